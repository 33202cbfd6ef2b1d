import { type HistoryAction, toHistoryAction } from './history.ts';
import type { HistoryStore } from './history-store.ts';
import type { HistoryEntry } from './schema.ts';
import { bucketsOf } from './series.ts';

export interface StreamChange {
  /** The stream's sequence number: the id Lambda's partial batch response names. */
  id: string;
  oldImage?: unknown;
  newImage?: unknown;
  /** When the stream recorded the change (its approximate creation time, ISO 8601), if it says. */
  at?: string | undefined;
}

/**
 * A change whose history is written (or was already, when a batch is delivered again): what its
 * change event is made of (change-events.ts). `index` is its position in the batch.
 */
export type RecordedChange =
  | { kind: 'changed'; index: number; key: string; entry: HistoryEntry }
  | { kind: 'deleted'; index: number; key: string; at: string | undefined };

export interface BatchOutcome {
  /** The first change that failed. It and everything after it must be delivered again, in order. */
  failedId?: string | undefined;
  written: number;
  duplicates: number;
  purged: number;
  error?: unknown;
  /**
   * The changes recorded, in batch order: all of them before `failedId`, and some after it (a group
   * that did not fail). A sharded counter's change whose entry the history no longer holds (its
   * counter since deleted) is left out.
   */
  recorded: RecordedChange[];
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
  const outcome: BatchOutcome = { written: 0, duplicates: 0, purged: 0, recorded: [] };
  const { groups, parseFailure } = groupByCounter(changes);
  const failures = await Promise.all(groups.map((group) => applyGroup(store, group, outcome)));
  const candidates = failures.flatMap((failure) => (failure === undefined ? [] : [failure]));
  if (parseFailure !== undefined) candidates.push(parseFailure);
  const first = candidates.sort((a, b) => a.index - b.index)[0];
  if (first !== undefined) {
    outcome.failedId = changes[first.index]?.id;
    outcome.error = first.error;
  }
  outcome.recorded.sort((a, b) => a.index - b.index);
  return outcome;
}

/** Where a group stopped: the first change not fully applied, and why. */
interface Failure {
  index: number;
  error: unknown;
}

/** The batch's changes by counter (history key), in batch order, up to the first malformed one. */
function groupByCounter(changes: StreamChange[]): { groups: Step[][]; parseFailure?: Failure | undefined } {
  const groups = new Map<string, Step[]>();
  for (const [index, change] of changes.entries()) {
    let action: HistoryAction;
    try {
      action = toHistoryAction(change.oldImage, change.newImage);
    } catch (error) {
      // A malformed record: what precedes it is applied, it and the rest are retried (then dead-lettered).
      return { groups: [...groups.values()], parseFailure: { index, error } };
    }
    if (action.kind === 'ignore') continue;
    const group = groups.get(action.key) ?? [];
    group.push({ index, change, action });
    groups.set(action.key, group);
  }
  return { groups: [...groups.values()] };
}

/** One counter's changes: its shards' changes numbered, its entries written and rolled up, then its purge. */
async function applyGroup(
  store: HistoryStore,
  group: Step[],
  outcome: BatchOutcome,
): Promise<Failure | undefined> {
  return (
    (await applySequenced(store, group, outcome)) ??
    (await applyRecords(store, group, outcome)) ??
    (await applyPurge(store, group, outcome))
  );
}

/** A sharded counter's shard changes, numbered and written with their rollups by the store. */
async function applySequenced(
  store: HistoryStore,
  group: Step[],
  outcome: BatchOutcome,
): Promise<Failure | undefined> {
  const steps = group.flatMap((step) =>
    step.action.kind === 'sequence' ? [{ step, change: step.action.change }] : [],
  );
  if (steps.length === 0) return undefined;
  const key = group[0]?.action.key ?? '';
  try {
    const result = await store.sequence(
      key,
      steps.map(({ change }) => change),
    );
    outcome.written += result.written;
    outcome.duplicates += result.duplicates;
    for (const [i, { step }] of steps.entries()) {
      const entry = result.entries[i];
      if (entry !== undefined) outcome.recorded.push({ kind: 'changed', index: step.index, key, entry });
    }
    return undefined;
  } catch (error) {
    // Whatever was committed is skipped by the shards' versions when the group comes again.
    return { index: group[0]?.index ?? 0, error };
  }
}

/**
 * A plain counter's entries, written concurrently, then rolled up. Only the entries before the first
 * failed write count as applied; their rollups follow, and only then: readers take the last version
 * the rollups hold as the mark below which a plain counter's history has no gap
 * (DynamoHistoryStore.history), so a version is never rolled up before it and every version before
 * it are stored.
 */
async function applyRecords(
  store: HistoryStore,
  group: Step[],
  outcome: BatchOutcome,
): Promise<Failure | undefined> {
  const records = group.flatMap((step) =>
    step.action.kind === 'record' ? [{ step, entry: step.action.entry }] : [],
  );
  const key = group[0]?.action.key ?? '';
  const results = await Promise.allSettled(records.map(({ entry }) => store.record(key, entry)));
  const failedAt = results.findIndex((result) => result.status === 'rejected');
  const applied = failedAt === -1 ? records : records.slice(0, failedAt);
  for (const result of results.slice(0, applied.length)) {
    if (result.status === 'fulfilled' && result.value === 'written') outcome.written++;
    if (result.status === 'fulfilled' && result.value === 'duplicate') outcome.duplicates++;
  }
  try {
    // Buckets are independent items, each idempotent by version: they are written together.
    await Promise.all(
      bucketsOf(applied.map(({ entry }) => entry)).map((bucket) =>
        store.rollUp(key, bucket.interval, bucket.start, bucket.changes),
      ),
    );
    for (const { step, entry } of applied)
      outcome.recorded.push({ kind: 'changed', index: step.index, key, entry });
  } catch (error) {
    // Some buckets may have absorbed the changes, some not: deliver the group again from its start;
    // what was applied is skipped by version.
    return { index: group[0]?.index ?? 0, error };
  }
  const failed = failedAt === -1 ? undefined : records[failedAt];
  const rejected = failedAt === -1 ? undefined : results[failedAt];
  if (failed === undefined) return undefined;
  return { index: failed.step.index, error: rejected?.status === 'rejected' ? rejected.reason : undefined };
}

/** A deleted counter: its history and rollups removed, once everything before it is applied. */
async function applyPurge(
  store: HistoryStore,
  group: Step[],
  outcome: BatchOutcome,
): Promise<Failure | undefined> {
  const purge = group.find((step) => step.action.kind === 'purge');
  if (purge === undefined) return undefined;
  try {
    outcome.purged += await store.purge(purge.action.key, {
      sharded: purge.action.kind === 'purge' && purge.action.sharded,
    });
    outcome.recorded.push({
      kind: 'deleted',
      index: purge.index,
      key: purge.action.key,
      at: purge.change.at,
    });
    return undefined;
  } catch (error) {
    return { index: purge.index, error };
  }
}
