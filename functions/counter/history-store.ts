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
  /** Removes every history entry and rollup under the key; returns how many entries it removed. */
  purge(key: string): Promise<number>;
}
