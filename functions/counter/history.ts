import { SequencerNotReadyError } from './errors.ts';
import {
  type HistoryEntry,
  type Operation,
  type StoredCounterItem,
  storedCounter,
  storedShard,
} from './schema.ts';
import { historyKey } from './table.ts';

export type HistoryAction =
  | { kind: 'record'; key: string; entry: HistoryEntry }
  | { kind: 'sequence'; key: string; change: ShardChange }
  | { kind: 'purge'; key: string; sharded: boolean }
  | { kind: 'ignore' };

/**
 * A change of one shard of a sharded counter, numbered by its shard alone. The consumer gives it the
 * counter-wide version (numberChanges).
 */
export interface ShardChange {
  shard: number;
  shardVersion: number;
  delta: number;
  op: Operation;
  created_at: string;
  actor: string;
}

/** Which change of which shard: a shard change's identity, which numbering does not change. */
export interface ShardSource {
  shard: number;
  shardVersion: number;
}

/** A shard change numbered into the counter's history: its entry, where it came from, and the sequencer's shards after it. */
export interface NumberedChange {
  entry: HistoryEntry;
  source: ShardSource;
  absorbed: Record<string, number>;
}

/**
 * Where a sharded counter's history stands: the last version given out, the value after it, and each
 * shard's last change absorbed. Kept in the history table at version 0 of the counter's key.
 */
export interface SequencerState {
  lastVersion: number;
  value: number;
  absorbed: Record<string, number>;
  /** Left by the counter's deletion, so late changes of its shards are not recorded again. */
  purged?: boolean | undefined;
}

/**
 * Gives shard changes their counter-wide versions, after `state`, in the order they come (each
 * shard's own changes come in its order): 1, 2, 3, ... with no gap, each entry's value the previous
 * one's plus its delta. A change a shard has already had absorbed is a duplicate and skipped. Pure.
 */
export function numberChanges(
  state: SequencerState | undefined,
  key: string,
  changes: readonly ShardChange[],
): { entries: NumberedChange[]; duplicates: number } {
  if (state?.purged === true) return { entries: [], duplicates: changes.length };
  let lastVersion = state?.lastVersion ?? 0;
  let value = state?.value ?? 0;
  let absorbed = { ...state?.absorbed };
  const entries: NumberedChange[] = [];
  let duplicates = 0;
  for (const change of changes) {
    if (change.shardVersion <= (absorbed[String(change.shard)] ?? 0)) {
      duplicates++;
      continue;
    }
    // The counter's creation (shard 0's first version) starts its history; nothing comes before it.
    if (lastVersion === 0 && !(change.shard === 0 && change.shardVersion === 1)) {
      throw new SequencerNotReadyError(key);
    }
    lastVersion++;
    value += change.delta;
    absorbed = { ...absorbed, [String(change.shard)]: change.shardVersion };
    entries.push({
      entry: {
        version: lastVersion,
        value,
        delta: change.delta,
        op: change.op,
        created_at: change.created_at,
        actor: change.actor,
      },
      source: { shard: change.shard, shardVersion: change.shardVersion },
      absorbed,
    });
  }
  return { entries, duplicates };
}

/**
 * What one change of a counter item means for its history. Pure: the stream consumer reads the
 * images, this decides. Images that are not counters make it throw, so a malformed record is
 * retried and ends in the dead-letter queue rather than being skipped silently.
 */
export function toHistoryAction(oldImage: unknown, newImage: unknown): HistoryAction {
  if (isShard(oldImage) || isShard(newImage)) return shardAction(oldImage, newImage);
  const before = oldImage === undefined || isProbeOnly(oldImage) ? undefined : storedCounter.parse(oldImage);
  const after = newImage === undefined || isProbeOnly(newImage) ? undefined : storedCounter.parse(newImage);
  if (after === undefined) {
    return before === undefined
      ? { kind: 'ignore' }
      : { kind: 'purge', key: keyOf(before), sharded: before.shards !== undefined };
  }
  const previous = before !== undefined && before.incarnation === after.incarnation ? before : undefined;
  // A write that did not change the version (none today) is not a change of the counter.
  if (previous !== undefined && previous.version === after.version) return { kind: 'ignore' };
  if (after.shards !== undefined) {
    // Shard 0 of a sharded counter: its changes are numbered with the other shards'.
    return {
      kind: 'sequence',
      key: keyOf(after),
      change: {
        shard: 0,
        shardVersion: after.version,
        delta: after.value - (previous?.value ?? 0),
        op: after.op,
        created_at: after.updated_at,
        actor: after.actor,
      },
    };
  }
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
      // The bounds in force after the change, while the counter has them.
      ...(after.min === undefined ? {} : { min: after.min }),
      ...(after.max === undefined ? {} : { max: after.max }),
    },
  };
}

function keyOf(counter: StoredCounterItem): string {
  return historyKey(counter.name, counter.incarnation);
}

/**
 * An item holding only a keyed change's recovery probe (counter-writes.ts probeUpdate): it has neither
 * value nor version, and is no counter. Anything else is a counter, or malformed.
 */
export function isProbeOnly(image: unknown): boolean {
  return typeof image === 'object' && image !== null && !('version' in image) && !('value' in image);
}

/** Shard items carry the counter's name in `counter`; counter items never do. */
function isShard(image: unknown): boolean {
  return typeof image === 'object' && image !== null && 'counter' in image && 'shard' in image;
}

/**
 * Shards 1..N-1: created at version 0 and deleted with the counter, neither a change of it (its own
 * item's creation and deletion are); every version they gain is one increment.
 */
function shardAction(oldImage: unknown, newImage: unknown): HistoryAction {
  const before = oldImage === undefined ? undefined : storedShard.parse(oldImage);
  const after = newImage === undefined ? undefined : storedShard.parse(newImage);
  if (after === undefined) return { kind: 'ignore' };
  const previous = before !== undefined && before.incarnation === after.incarnation ? before : undefined;
  if (after.version === (previous?.version ?? 0)) return { kind: 'ignore' };
  return {
    kind: 'sequence',
    key: historyKey(after.counter, after.incarnation),
    change: {
      shard: after.shard,
      shardVersion: after.version,
      delta: after.value - (previous?.value ?? 0),
      op: after.op,
      created_at: after.updated_at,
      actor: after.actor,
    },
  };
}
