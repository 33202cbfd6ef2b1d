import { randomUUID } from 'node:crypto';
import { startEngine } from '../lib/local/engine.ts';
import { startServer } from '../test/support/server-process.ts';
import { CapacityProxy, type RecordedRequest } from './capacity-proxy.ts';
import { combine, LoadDriver, type RawPhase } from './load-driver.ts';
import { type FloorTarget, formatRatio, markdownTable, ratio } from './stats.ts';

/** Issue 12: keyed increments of one counter reach at least half the plain rate at every client count. */
export const KEYED_RATE_TARGET: FloorTarget = {
  min: 0.5,
  label: 'keyed increments at least 0.5x the plain rate',
};

/** The local server's tables (lib/local/server.ts, default prefix). */
const COUNTERS = 'counter-service-counters';
const IDEMPOTENCY = 'counter-service-idempotency';

export interface KeyedRow {
  clients: number;
  /** Plain increments of one counter: the reference, measured before and after the keyed phase. */
  plainPerSecond: number;
  keyedPerSecond: number;
  /** Keyed acknowledged per second / plain acknowledged per second. */
  ratio: number;
  /** Answers of the keyed phase by status. */
  keyedStatuses: Record<string, number>;
  throttled: number;
  /** The change function's DynamoDB requests per acknowledged keyed increment, by operation. */
  keyedCalls: Record<string, number>;
  keyedCallsPerIncrement: number;
  plainCallsPerIncrement: number;
  /** What the server logged as failures during the keyed phase, when anything failed (first lines). */
  failures?: string[] | undefined;
}

export interface KeyedResult {
  seconds: number;
  clients: number[];
  rows: KeyedRow[];
}

/**
 * Keyed and plain increments of one counter on the local server, at each client count: a plain
 * phase, a keyed phase (a fresh Idempotency-Key per request, as the client sends), a plain phase,
 * the two plain ones making the reference. The server talks to its engine through a proxy that
 * writes down every DynamoDB request, so the calls each keyed increment took are counted, not
 * assumed: those of the change function (the counters table, and the idempotency table's claim,
 * answer, reads and deletes), not the stream consumer's (its witness reads and marks).
 */
export async function measureKeyed(options: { clients: number[]; seconds: number }): Promise<KeyedResult> {
  const engine = await startEngine({});
  const proxy = await new CapacityProxy(engine.endpoint).start();
  const server = await startServer({ env: { DYNAMODB_ENDPOINT: proxy.url } });
  const driver = new LoadDriver(server.url, Math.max(...options.clients));
  try {
    const phase = (label: string, clients: number, seconds: number, counter: string, keyed: boolean) => {
      proxy.label = label;
      return driver.phase({
        name: label,
        connections: clients,
        seconds,
        method: 'POST',
        request: () => ({
          path: `/counters/${counter}`,
          ...(keyed ? { headers: { 'idempotency-key': `bench-${randomUUID()}` } } : {}),
        }),
      });
    };
    // Warm-up: the handlers' first calls and the counters' creation.
    await phase('warm-up', 4, Math.min(2, options.seconds / 2), 'bench-keyed-warm', false);
    await phase('warm-up', 4, Math.min(2, options.seconds / 2), 'bench-keyed-warm', true);
    const rows: KeyedRow[] = [];
    for (const clients of options.clients) {
      const counter = `bench-keyed-${clients}`;
      const before = await phase(`plain ${clients} a`, clients, options.seconds / 2, counter, false);
      const logged = server.stderr().length;
      const keyed = await phase(`keyed ${clients}`, clients, options.seconds, counter, true);
      const failures = server
        .stderr()
        .slice(logged)
        .split('\n')
        .filter((line) => line.includes('"level":"ERROR"'))
        .slice(0, 3);
      const after = await phase(`plain ${clients} b`, clients, options.seconds / 2, counter, false);
      const plain = combine(`plain ${clients}`, before, after);
      const plainCalls = [...proxy.recorded(`plain ${clients} a`), ...proxy.recorded(`plain ${clients} b`)];
      const row = rowOf(clients, plain, keyed, proxy.recorded(`keyed ${clients}`), plainCalls);
      rows.push(failures.length > 0 ? { ...row, failures } : row);
    }
    return { seconds: options.seconds, clients: options.clients, rows };
  } finally {
    driver.close();
    await server.stop();
    await proxy.stop();
    await engine.stop();
  }
}

function rowOf(
  clients: number,
  plain: RawPhase,
  keyed: RawPhase,
  keyedRequests: RecordedRequest[],
  plainRequests: RecordedRequest[],
): KeyedRow {
  const acked = (phase: RawPhase) => phase.statuses['200'] ?? 0;
  const plainPerSecond = acked(plain) / plain.seconds;
  const keyedPerSecond = acked(keyed) / keyed.seconds;
  const keyedCalls: Record<string, number> = {};
  for (const call of keyedRequests.filter(byTheChangeFunction)) {
    keyedCalls[call.operation] = (keyedCalls[call.operation] ?? 0) + 1;
  }
  for (const operation of Object.keys(keyedCalls)) {
    keyedCalls[operation] = round((keyedCalls[operation] ?? 0) / Math.max(1, acked(keyed)));
  }
  return {
    clients,
    plainPerSecond,
    keyedPerSecond,
    ratio: ratio(keyedPerSecond, plainPerSecond),
    keyedStatuses: keyed.statuses,
    throttled: keyed.statuses['429'] ?? 0,
    keyedCalls,
    keyedCallsPerIncrement: round(
      keyedRequests.filter(byTheChangeFunction).length / Math.max(1, acked(keyed)),
    ),
    plainCallsPerIncrement: round(
      plainRequests.filter(byTheChangeFunction).length / Math.max(1, acked(plain)),
    ),
  };
}

/**
 * Whether the change function sent the request: anything on the counters table, and the idempotency
 * table's requests but the stream consumer's (its BatchGetItem of records, and its conditional
 * marks: `SET #status = :applied ...`, `ADD #probed ...`).
 */
export function byTheChangeFunction(request: RecordedRequest): boolean {
  if (request.tables.includes(COUNTERS)) return true;
  if (!request.tables.includes(IDEMPOTENCY) || request.operation === 'BatchGetItem') return false;
  const expression = request.updateExpression ?? '';
  return !expression.startsWith('SET #status = :applied') && !expression.startsWith('ADD #probed');
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

export function keyedMarkdown(result: KeyedResult): string {
  return [
    markdownTable(
      [
        'clients',
        'plain acked/s',
        'keyed acked/s',
        'keyed / plain',
        'keyed answers',
        'calls per keyed increment',
        'per plain',
      ],
      result.rows.map((row) => [
        String(row.clients),
        row.plainPerSecond.toFixed(0),
        row.keyedPerSecond.toFixed(0),
        formatRatio(row.ratio),
        Object.entries(row.keyedStatuses)
          .map(([status, count]) => `${count} x ${status}`)
          .join(', '),
        `${row.keyedCallsPerIncrement.toFixed(2)} (${Object.entries(row.keyedCalls)
          .map(([operation, count]) => `${operation} ${count}`)
          .join(', ')})`,
        row.plainCallsPerIncrement.toFixed(2),
      ]),
    ),
    ...result.rows.flatMap((row) =>
      row.failures === undefined ? [] : ['', `Logged at ${row.clients} clients: ${row.failures.join(' / ')}`],
    ),
    '',
    `One counter, unsharded; ${result.seconds} s of keyed increments per client count between two plain ` +
      'phases of half that, which make the reference. The local server and its engine share this machine ' +
      'with the clients, so only the ratios mean anything; calls are counted on the wire.',
  ].join('\n');
}
