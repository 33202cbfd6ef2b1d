import { Agent, request } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../lib/local/node-sha256.ts';
import { startServer } from '../test/support/server-process.ts';
import { formatMs, formatRatio, markdownTable, ratio, type Summary, summarize } from './stats.ts';

export interface PhaseResult {
  name: string;
  seconds: number;
  requests: number;
  /** Answers other than the expected status (they count in requests, not in the latencies). */
  errors: number;
  requestsPerSecond: number;
  latencyMs: Summary;
}

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

/** Never more than this many requests in one phase, whatever the duration: the run stays bounded. */
const MAX_REQUESTS_PER_PHASE = 500_000;

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
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const url = new URL(server.url);
  const signer = new SignatureV4({
    service: 'execute-api',
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    sha256: NodeSha256,
  });
  try {
    const phase = (name: string, path: (worker: number) => string, method: 'GET' | 'POST', seconds: number) =>
      runPhase({ name, url, agent, signer, connections: options.connections, seconds, method, path });
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
    const reference = combine('GET /health (reference)', before, after);
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
    agent.destroy();
    await server.stop();
  }
}

export interface PhaseOptions {
  name: string;
  url: URL;
  agent: Agent;
  signer: SignatureV4;
  connections: number;
  seconds: number;
  /** Stop once this many requests are sent, if sooner than `seconds` (at most MAX_REQUESTS_PER_PHASE). */
  maxRequests?: number;
  method: 'GET' | 'POST';
  path: (worker: number) => string;
}

export interface RawPhase extends PhaseResult {
  latencies: number[];
}

/** `connections` workers, each sending its next request once the last is answered, until time or count is up. */
export async function runPhase(options: PhaseOptions): Promise<RawPhase> {
  const latencies: number[] = [];
  let errors = 0;
  let sent = 0;
  const started = performance.now();
  const deadline = started + options.seconds * 1000;
  const cap = Math.min(options.maxRequests ?? MAX_REQUESTS_PER_PHASE, MAX_REQUESTS_PER_PHASE);
  const worker = async (index: number) => {
    const path = options.path(index);
    while (performance.now() < deadline && sent < cap) {
      sent++;
      const signed = await options.signer.sign({
        method: options.method,
        protocol: 'http:',
        hostname: options.url.hostname,
        port: Number(options.url.port),
        path,
        query: {},
        headers: { host: options.url.host },
      });
      const begun = performance.now();
      const status = await send(options, path, signed.headers);
      const took = performance.now() - begun;
      if (status === 200) latencies.push(took);
      else errors++;
    }
  };
  await Promise.all(Array.from({ length: options.connections }, (_, i) => worker(i)));
  const seconds = (performance.now() - started) / 1000;
  const requests = latencies.length + errors;
  return {
    name: options.name,
    seconds,
    requests,
    errors,
    requestsPerSecond: requests / seconds,
    latencyMs: summarize(latencies),
    latencies,
  };
}

function send(options: PhaseOptions, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      {
        agent: options.agent,
        hostname: options.url.hostname,
        port: options.url.port,
        method: options.method,
        path,
        headers,
      },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
        res.once('error', () => resolve(0));
      },
    );
    req.once('error', () => resolve(0));
    req.end();
  });
}

function combine(name: string, a: RawPhase, b: RawPhase): PhaseResult {
  const seconds = a.seconds + b.seconds;
  const requests = a.requests + b.requests;
  return {
    name,
    seconds,
    requests,
    errors: a.errors + b.errors,
    requestsPerSecond: requests / seconds,
    latencyMs: summarize([...a.latencies, ...b.latencies]),
  };
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
