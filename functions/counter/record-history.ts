import { type HistoryAction, toHistoryAction } from './history.ts';
import type { HistoryStore } from './history-store.ts';

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

/**
 * Applies a batch of counter changes to the history, in stream order. Entries between two deletions
 * are independent writes (each keyed by its version), so they go out together; a deletion waits for
 * everything before it. Stops at the first failure so a retry resumes exactly there; anything after
 * it that was written anyway is a no-op on replay, because each write is conditional on its key.
 */
export async function recordHistory(store: HistoryStore, changes: StreamChange[]): Promise<BatchOutcome> {
  const outcome: BatchOutcome = { written: 0, duplicates: 0, purged: 0 };
  let segment: { change: StreamChange; action: HistoryAction }[] = [];

  const flush = async (): Promise<boolean> => {
    const results = await Promise.allSettled(
      segment.map(({ action }) =>
        action.kind === 'record' ? store.record(action.key, action.entry) : 'skipped',
      ),
    );
    for (const [index, result] of results.entries()) {
      if (result.status === 'rejected') {
        outcome.failedId = segment[index]?.change.id;
        outcome.error = result.reason;
        return false;
      }
      if (result.value === 'written') outcome.written++;
      if (result.value === 'duplicate') outcome.duplicates++;
    }
    segment = [];
    return true;
  };

  for (const change of changes) {
    let action: HistoryAction;
    try {
      action = toHistoryAction(change.oldImage, change.newImage);
    } catch (error) {
      if (!(await flush())) return outcome;
      return { ...outcome, failedId: change.id, error };
    }
    if (action.kind !== 'purge') {
      segment.push({ change, action });
      continue;
    }
    if (!(await flush())) return outcome;
    try {
      outcome.purged += await store.purge(action.key);
    } catch (error) {
      return { ...outcome, failedId: change.id, error };
    }
  }
  await flush();
  return outcome;
}
