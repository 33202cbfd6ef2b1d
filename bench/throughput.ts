import { startServer } from '../test/support/server-process.ts';
import { combine, LoadDriver, type PhaseResult } from './load-driver.ts';
import { formatMs, formatRatio, markdownTable, ratio } from './stats.ts';

export interface ThroughputResult {
  connections: number;
  secondsPerPhase: number;
  reference: PhaseResult;
  increments: PhaseResult;
  /** Increments per second / health checks per second. */
  throughputRatio: number;
  /** Increment p50 / health p50. */
  latencyRatioP50: number;
  latencyRatioP99: number;
}

/**
 * The local server (what `npm start` runs, in its own process, with its engine and stream consumer)
 * driven over loopback by `connections` keep-alive connections, each sending its next request when
 * the last one is answered. The reference is `GET /health`, which the server answers before any
 * handler: it measures the HTTP server and this client. Its requests are signed too, so the client
 * does the same work for both, though the server checks no signature on /health.
 *
 * Phases run health, increments, health, and the two health phases make the reference, so a drift
 * in the machine's load during the run falls on both sides.
 */
export async function measureThroughput(options: {
  connections: number;
  seconds: number;
}): Promise<ThroughputResult> {
  const server = await startServer();
  const driver = new LoadDriver(server.url, options.connections);
  try {
    const phase = (name: string, path: (worker: number) => string, method: 'GET' | 'POST', seconds: number) =>
      driver.phase({
        name,
        connections: options.connections,
        seconds,
        method,
        request: (w) => ({ path: path(w) }),
      });
    const incrementPath = (worker: number) => `/counters/bench-throughput-${worker}`;
    // Warm-up: the handlers' first calls, the counters' creation, the JIT.
    await phase('warm-up', incrementPath, 'POST', Math.min(2, options.seconds / 3));
    const before = await phase('health', () => '/health', 'GET', options.seconds / 2);
    const { latencies: _latencies, ...increments } = await phase(
      'increments',
      incrementPath,
      'POST',
      options.seconds,
    );
    const after = await phase('health', () => '/health', 'GET', options.seconds / 2);
    const { latencies: _l, ...reference } = combine('GET /health (reference)', before, after);
    return {
      connections: options.connections,
      secondsPerPhase: options.seconds,
      reference,
      increments: { ...increments, name: 'POST /counters/{name} (increment)' },
      throughputRatio: ratio(increments.requestsPerSecond, reference.requestsPerSecond),
      latencyRatioP50: ratio(increments.latencyMs.median, reference.latencyMs.median),
      latencyRatioP99: ratio(increments.latencyMs.p99, reference.latencyMs.p99),
    };
  } finally {
    driver.close();
    await server.stop();
  }
}

export function throughputMarkdown(result: ThroughputResult): string {
  const row = (phase: PhaseResult) => [
    phase.name,
    String(phase.requests),
    String(phase.errors),
    phase.requestsPerSecond.toFixed(0),
    formatMs(phase.latencyMs.median),
    formatMs(phase.latencyMs.p99),
  ];
  return [
    markdownTable(
      ['phase', 'requests', 'errors', 'requests/s', 'p50', 'p99'],
      [row(result.reference), row(result.increments)],
    ),
    '',
    `${result.connections} connections. Increments reach ${formatRatio(result.throughputRatio)} of the reference's ` +
      `requests/s; latency ${formatRatio(result.latencyRatioP50)} (p50) and ${formatRatio(result.latencyRatioP99)} (p99) ` +
      'of the reference. Informative: client, server, engine and stream consumer share this machine.',
  ].join('\n');
}
