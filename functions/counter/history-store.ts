import type { HistoryEntry } from './schema.ts';

/** Where the stream consumer writes history. Writes are idempotent: a replay changes nothing. */
export interface HistoryStore {
  /** Writes the entry unless one with its key and version exists. */
  record(key: string, entry: HistoryEntry): Promise<'written' | 'duplicate'>;
  /** Removes every entry under the key; returns how many it removed. */
  purge(key: string): Promise<number>;
}
