import { type HistoryEntry, type StoredCounter, storedCounter } from './schema.ts';
import { historyKey } from './table.ts';

export type HistoryAction =
  | { kind: 'record'; key: string; entry: HistoryEntry }
  | { kind: 'purge'; key: string }
  | { kind: 'ignore' };

/**
 * What one change of a counter item means for its history. Pure: the stream consumer reads the
 * images, this decides. Images that are not counters make it throw, so a malformed record is
 * retried and ends in the dead-letter queue rather than being skipped silently.
 */
export function toHistoryAction(oldImage: unknown, newImage: unknown): HistoryAction {
  const before = oldImage === undefined ? undefined : storedCounter.parse(oldImage);
  const after = newImage === undefined ? undefined : storedCounter.parse(newImage);
  if (after === undefined) {
    return before === undefined ? { kind: 'ignore' } : { kind: 'purge', key: keyOf(before) };
  }
  const previous = before !== undefined && before.incarnation === after.incarnation ? before : undefined;
  // A write that did not change the version (none today) is not a change of the counter.
  if (previous !== undefined && previous.version === after.version) return { kind: 'ignore' };
  return {
    kind: 'record',
    key: keyOf(after),
    entry: {
      version: after.version,
      value: after.value,
      delta: after.value - (previous?.value ?? 0),
      op: after.op,
      created_at: after.updated_at,
      actor: after.actor,
    },
  };
}

function keyOf(counter: StoredCounter): string {
  return historyKey(counter.name, counter.incarnation);
}
