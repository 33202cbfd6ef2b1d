import { randomUUID } from 'node:crypto';
import { consume } from './history-consume.ts';
import { ACTOR } from './history-dataset.ts';
import { type Metered, requestsPerCall } from './history-meter.ts';
import type { HistoryBench } from './history-setup.ts';

interface WriteCase {
  id: string;
  title: string;
  changes: number;
  /** Stream records per consumer invocation. */
  batchSize: number;
  /** Time between consecutive changes: 0.1 s keeps them in one minute, 60 s gives each its own. */
  stepMs: number;
}

export interface WriteResult {
  id: string;
  title: string;
  changes: number;
  batchSize: number;
  invocations: number;
  largestBatch: number;
  /** The counter's UpdateItem, per change. */
  counterWriteUnits: number;
  /** The consumer's history PutItem and rollup UpdateItems, per change. */
  consumerWriteUnits: number;
  consumerReadUnits: number;
  totalWriteUnits: number;
  counterRequests: string;
  consumerRequests: string;
}

/** A fixed hour, so the one-minute cases never straddle a minute boundary. */
const BASE_MS = Date.UTC(2030, 0, 1, 12, 0, 0);

export function writeCases(changes: number): WriteCase[] {
  return [
    {
      id: 'batch-1-one-minute',
      title: 'batch of 1, all changes in one minute',
      changes,
      batchSize: 1,
      stepMs: 100,
    },
    {
      id: 'batch-10-one-minute',
      title: 'batches of 10, all changes in one minute',
      changes,
      batchSize: 10,
      stepMs: 100,
    },
    {
      id: 'batch-100-one-minute',
      title: 'batches of 100, all changes in one minute',
      changes,
      batchSize: 100,
      stepMs: 100,
    },
    {
      id: 'batch-100-many-minutes',
      title: 'batches of 100, one change per minute',
      changes,
      batchSize: 100,
      stepMs: 60_000,
    },
  ];
}

/**
 * Write units per change, end to end: each case's counter is created first (not counted: creating a
 * counter also writes its by-name index entry, a one-off), then its changes go through the service's
 * UpdateItem one at a time, and the consumer applies them in batches of exactly `batchSize` (the
 * poller starts only once they are all in the stream). Counted through the meter on the service's
 * and the consumer's clients.
 */
export async function measureWrites(
  bench: HistoryBench,
  cases: readonly WriteCase[],
  log: (line: string) => void,
): Promise<WriteResult[]> {
  const names = new Map(cases.map((writeCase) => [writeCase.id, `hs-wcu-${writeCase.id}`]));
  for (const name of names.values()) await increment(bench, name, BASE_MS - 86_400_000);
  await consume(bench, { expected: names.size, batchSize: 100 });
  const results: WriteResult[] = [];
  for (const [index, writeCase] of cases.entries()) {
    log(`writes: ${writeCase.title}`);
    // Each case in its own day, so no case's rollups are another's.
    const start = BASE_MS + index * 86_400_000;
    results.push(await measureCase(bench, writeCase, names.get(writeCase.id) ?? writeCase.id, start));
  }
  return results;
}

/** One case: its changes one at a time, metered as the counter's; then the consumer's batches, metered too. */
async function measureCase(
  bench: HistoryBench,
  writeCase: WriteCase,
  name: string,
  start: number,
): Promise<WriteResult> {
  const counterLabel = `write: ${writeCase.id}: counter`;
  const consumerLabel = `write: ${writeCase.id}: consumer`;
  bench.meter.label = counterLabel;
  for (let k = 0; k < writeCase.changes; k++) await increment(bench, name, start + k * writeCase.stepMs);
  bench.meter.label = undefined;
  const consumed = await consume(bench, {
    expected: writeCase.changes,
    batchSize: writeCase.batchSize,
    meterLabel: consumerLabel,
  });
  const counter = bench.meter.get(counterLabel);
  const consumer = bench.meter.get(consumerLabel);
  const per = (metered: Metered, units: 'readUnits' | 'writeUnits') => metered[units] / writeCase.changes;
  return {
    id: writeCase.id,
    title: writeCase.title,
    changes: writeCase.changes,
    batchSize: writeCase.batchSize,
    invocations: consumed.invocations,
    largestBatch: consumed.largestBatch,
    counterWriteUnits: per(counter, 'writeUnits'),
    consumerWriteUnits: per(consumer, 'writeUnits'),
    consumerReadUnits: per(consumer, 'readUnits'),
    totalWriteUnits: per(counter, 'writeUnits') + per(consumer, 'writeUnits'),
    counterRequests: requestsPerCall(counter.requests, writeCase.changes),
    consumerRequests: requestsPerCall(consumer.requests, writeCase.changes),
  };
}

/** +1 through the service's own UpdateItem, stamped `atMs`. */
function increment(bench: HistoryBench, name: string, atMs: number) {
  return bench.deps.repository.increment({
    name,
    by: 1,
    actor: ACTOR,
    now: new Date(atMs).toISOString(),
    newIncarnation: randomUUID(),
  });
}
