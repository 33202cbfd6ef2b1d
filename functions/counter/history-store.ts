import type { ShardChange } from './history.ts';
import type { HistoryEntry } from './schema.ts';
import type { Interval, RollupChange } from './series.ts';

/** Where the stream consumer writes history and rollups. Every write is idempotent: a replay changes nothing. */
export interface HistoryStore {
  /** Writes the entry unless one with its key and version exists. */
  record(key: string, entry: HistoryEntry): Promise<'written' | 'duplicate'>;
  /**
   * Adds changes to one bucket of a counter's series. The bucket remembers the last version it
   * absorbed, so changes it has already absorbed are skipped when a batch is delivered again.
   * `changes` are in version order.
   */
  rollUp(key: string, interval: Interval, start: string, changes: RollupChange[]): Promise<void>;
  /**
   * A sharded counter's shard changes, in the order they came: numbered after the ones already
   * recorded (history.ts numberChanges) and written with their rollups, all or nothing per step, so
   * a batch delivered again, or one racing another shard's batch, counts each change once.
   * Throws SequencerNotReadyError if a shard's change comes before the counter's creation.
   */
  sequence(key: string, changes: ShardChange[]): Promise<SequenceOutcome>;
  /**
   * Removes every history entry and rollup under the key; returns how many entries it removed. For a
   * sharded counter, leaves a mark so that its shards' late changes are not recorded again.
   */
  purge(key: string, options?: { sharded?: boolean }): Promise<number>;
}

export interface SequenceOutcome {
  written: number;
  duplicates: number;
  /**
   * Each change's entry in the history, index by index with the changes: the one this call wrote, or
   * for a change recorded before (a batch delivered again) the one it was given then, so its event
   * carries the same version. Undefined where the history no longer says (the counter was deleted,
   * or the entry was written before entries kept their sources).
   */
  entries: (HistoryEntry | undefined)[];
}
