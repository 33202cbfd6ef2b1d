import { consume } from './history-consume.ts';
import { requestsPerCall } from './history-meter.ts';
import type { HistoryBench } from './history-setup.ts';
import { ratio } from './stats.ts';

export interface PurgeSide {
  counter: string;
  /** History entries the counter had. */
  changes: number;
  /** Time inside the consumer's invocation that saw the deletion. */
  consumerSeconds: number;
  readUnits: number;
  writeUnits: number;
  requests: string;
}

export interface PurgeResult {
  big: PurgeSide;
  reference: PurgeSide;
  /** big / reference consumer time: how the deletion's invocation grows with the history. */
  timeRatio: number;
}

/**
 * What deleting a counter costs the stream consumer. The consumer purges a deleted counter's
 * history and rollups inside the invocation that sees the deletion (history-recorder.ts applyPurge ->
 * DynamoHistoryStore.purge), so that invocation's time and write units follow the history's length;
 * this deletes the big counter and the reference counter (the run's last step) and compares.
 */
export async function measurePurge(
  bench: HistoryBench,
  counters: { big: { name: string; changes: number }; reference: { name: string; changes: number } },
  log: (line: string) => void,
): Promise<PurgeResult> {
  const side = async (counter: { name: string; changes: number }): Promise<PurgeSide> => {
    // CounterNotFoundError if it is not there: the run stops rather than time nothing.
    await bench.deps.repository.delete({ name: counter.name });
    const label = `purge: ${counter.name}`;
    const consumed = await consume(bench, { expected: 1, batchSize: 1, meterLabel: label });
    const metered = bench.meter.get(label);
    log(`purge: ${counter.name} (${counter.changes} changes) in ${consumed.handlerSeconds.toFixed(2)} s`);
    return {
      counter: counter.name,
      changes: counter.changes,
      consumerSeconds: consumed.handlerSeconds,
      readUnits: metered.readUnits,
      writeUnits: metered.writeUnits,
      requests: requestsPerCall(metered.requests, 1),
    };
  };
  const reference = await side(counters.reference);
  const big = await side(counters.big);
  return { big, reference, timeRatio: ratio(big.consumerSeconds, reference.consumerSeconds) };
}
