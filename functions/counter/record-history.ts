import { type HistoryAction, toHistoryAction } from './history.ts';
import type { HistoryStore } from './history-store.ts';
import type { HistoryEntry } from './schema.ts';
import { bucketsOf } from './series.ts';

export interface StreamChange {
  /** The stream's sequence number: the id Lambda's partial batch response names. */
  id: string;
  oldImage?: unknown;
  newImage?: unknown;
}

export interface BatchOutcome {
  /** The first change that failed. It and everything after it must be delivered again, in order. */
  failedId?: string | undefined;
  written: number;
  duplicates: number;
  purged: number;
  error?: unknown;
}

interface Step {
  index: number;
  change: StreamChange;
  action: Exclude<HistoryAction, { kind: 'ignore' }>;
}

/**
 * Applies a batch of counter changes to the history and the series rollups, so that everything
 * before the change it reports as failed is fully applied, and everything from it on can be
 * delivered again without counting twice.
 *
 * Changes are grouped by counter (its history key). Groups are independent and go concurrently;
 * within a group, entries are written (each conditional on its version), then the group's rollups are
 * updated once per bucket (each conditional on the versions it has absorbed), then a deletion purges
 * the group. A failure in a group makes its first not-fully-applied change the group's failure; the
 * batch reports the earliest.
 */
export async function recordHistory(store: HistoryStore, changes: StreamChange[]): Promise<BatchOutcome> {
  const outcome: BatchOutcome = { written: 0, duplicates: 0, purged: 0 };
  const groups = new Map<string, Step[]>();
  let parseFailure: { index: number; error: unknown } | undefined;
  for (const [index, change] of changes.entries()) {
    let action: HistoryAction;
    try {
      action = toHistoryAction(change.oldImage, change.newImage);
    } catch (error) {
      // A malformed record: what precedes it is applied, it and the rest are retried (then dead-lettered).
      parseFailure = { index, error };
      break;
    }
    if (action.kind === 'ignore') continue;
    const group = groups.get(action.key) ?? [];
    group.push({ index, change, action });
    groups.set(action.key, group);
  }

  const failures = await Promise.all([...groups.values()].map((group) => applyGroup(store, group, outcome)));
  const candidates = [...failures.flatMap((failure) => (failure === undefined ? [] : [failure]))];
  if (parseFailure !== undefined) candidates.push(parseFailure);
  const first = candidates.sort((a, b) => a.index - b.index)[0];
  if (first !== undefined) {
    outcome.failedId = changes[first.index]?.id;
    outcome.error = first.error;
  }
  return outcome;
}

async function applyGroup(
  store: HistoryStore,
  group: Step[],
  outcome: BatchOutcome,
): Promise<{ index: number; error: unknown } | undefined> {
  const sequenced = group.flatMap((step) => (step.action.kind === 'sequence' ? [step.action.change] : []));
  if (sequenced.length > 0) {
    try {
      const result = await store.sequence(group[0]?.action.key ?? '', sequenced);
      outcome.written += result.written;
      outcome.duplicates += result.duplicates;
    } catch (error) {
      // Whatever was committed is skipped by the shards' versions when the group comes again.
      return { index: group[0]?.index ?? 0, error };
    }
  }
  const records = group.filter((step) => step.action.kind === 'record');
  const results = await Promise.allSettled(
    records.map((step) =>
      step.action.kind === 'record' ? store.record(step.action.key, step.action.entry) : 'skipped',
    ),
  );
  // Only the entries before the first failed write count as applied; their rollups follow, and only
  // then: readers take the last version the rollups hold as the mark below which a plain counter's
  // history has no gap (DynamoCounterRepository.history), so a version is never rolled up before it
  // and every version before it are stored.
  const failedAt = results.findIndex((result) => result.status === 'rejected');
  const applied = failedAt === -1 ? records : records.slice(0, failedAt);
  for (const result of results.slice(0, failedAt === -1 ? undefined : failedAt)) {
    if (result.status === 'fulfilled' && result.value === 'written') outcome.written++;
    if (result.status === 'fulfilled' && result.value === 'duplicate') outcome.duplicates++;
  }

  const entries: HistoryEntry[] = applied.flatMap((step) =>
    step.action.kind === 'record' ? [step.action.entry] : [],
  );
  const key = group[0]?.action.key ?? '';
  try {
    // Buckets are independent items, each idempotent by version: they are written together.
    await Promise.all(
      bucketsOf(entries).map((bucket) => store.rollUp(key, bucket.interval, bucket.start, bucket.changes)),
    );
  } catch (error) {
    // Some buckets may have absorbed the changes, some not: deliver the group again from its start;
    // what was applied is skipped by version.
    return { index: group[0]?.index ?? 0, error };
  }
  const failedRecord = failedAt === -1 ? undefined : records[failedAt];
  const rejected = failedAt === -1 ? undefined : results[failedAt];
  if (failedRecord !== undefined) {
    return {
      index: failedRecord.index,
      error: rejected?.status === 'rejected' ? rejected.reason : undefined,
    };
  }

  const purge = group.find((step) => step.action.kind === 'purge');
  if (purge !== undefined) {
    try {
      outcome.purged += await store.purge(purge.action.key, {
        sharded: purge.action.kind === 'purge' && purge.action.sharded,
      });
    } catch (error) {
      return { index: purge.index, error };
    }
  }
  return undefined;
}
