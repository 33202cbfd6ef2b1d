import type { NumberedChange, ShardSource } from './history.ts';
import { decodePage, decodeSources, encodePage, encodeSources } from './history-page.ts';
import { type HistoryEntry, historyEntry } from './schema.ts';
import { EXPIRES_AT, HISTORY_PAGE_CHANGES_KEY, HISTORY_PARTITION_KEY, HISTORY_SORT_KEY } from './table.ts';

/**
 * The history table's items, written and read here alone (table.ts has the layout): a plain
 * counter's entries one item each; a sharded counter's in pages (history-page.ts), with its
 * sequencer at version 0.
 */

/** The sequencer's place in a sharded counter's history: before version 1, so no page reads it. */
export const SEQUENCER_VERSION = 0;

/** The expiry attribute of an entry changed at `createdAt`, when a retention is configured. */
function expiry(createdAt: string, retentionDays: number | undefined): Record<string, number> {
  if (retentionDays === undefined) return {};
  return { [EXPIRES_AT]: Math.floor(Date.parse(createdAt) / 1000) + Math.round(retentionDays * 86_400) };
}

/** An entry as the history table holds it, with its expiry when a retention is configured. */
export function entryItem(
  key: string,
  entry: HistoryEntry,
  retentionDays: number | undefined,
): Record<string, unknown> {
  return { [HISTORY_PARTITION_KEY]: key, ...entry, ...expiry(entry.created_at, retentionDays) };
}

/**
 * A step's entries of a sharded counter as one compact item (history-page.ts), under the version of
 * its last: about 2 KB for 100 changes instead of 100 items, so its history keeps up with the shards
 * (docs/sharding.md). It expires with its last entry, so no entry leaves before its retention.
 */
export function pageItem(
  key: string,
  numbered: readonly NumberedChange[],
  retentionDays: number | undefined,
): Record<string, unknown> {
  const entries = numbered.map(({ entry }) => entry);
  const last = entries.at(-1);
  if (last === undefined) throw new Error('a history page holds at least one entry');
  return {
    [HISTORY_PARTITION_KEY]: key,
    [HISTORY_SORT_KEY]: last.version,
    ...encodePage(entries),
    ...encodeSources(numbered.map(({ source }) => source)),
    ...expiry(last.created_at, retentionDays),
  };
}

/** The entries a history item holds: its own, or a page's. */
export function entriesOf(item: Record<string, unknown>): HistoryEntry[] {
  return HISTORY_PAGE_CHANGES_KEY in item ? decodePage(item) : [historyEntry.parse(item)];
}

/** A page's entries with the shard change each one was; sources are undefined for a page written without them. */
export function sourcedEntriesOf(item: Record<string, unknown>): {
  entries: HistoryEntry[];
  sources: ShardSource[] | undefined;
} {
  const entries = decodePage(item);
  return { entries, sources: decodeSources(item, entries.length) };
}

/**
 * How many entries a history item held, from its keys and a page's first version: none for a
 * sharded counter's sequencer (version 0), a page's, or one.
 */
export function entriesIn(version: unknown, firstVersion: unknown): number {
  if (version === SEQUENCER_VERSION) return 0;
  if (typeof version === 'number' && typeof firstVersion === 'number') return version - firstVersion + 1;
  return 1;
}
