/**
 * The storage layout, in one place: the stack's tables (lib/constructs/counter-tables.ts), the local
 * engine's (lib/local/tables.ts) and the adapters all read these names and schemas.
 *
 * counters table   pk `name`; one item per counter (schema.ts StoredCounter) plus `kind`, which puts
 *                  the counter in the `by-name` index (KEYS_ONLY, so increments never write to it).
 *                  A sharded counter's shards 1..N-1 are items `<name>#<index>` without `kind`.
 * history table    pk `counter` = "<name>#<incarnation>", sk `version`: one item per entry. A sharded
 *                  counter's entries come in pages instead: an item per step of its sequencer,
 *                  holding up to HISTORY_PAGE_ENTRIES changes (history-page.ts) under the version of
 *                  its last; its version 0 is the sequencer that numbers its shards' changes
 *                  (history-sequencer.ts).
 * rollups table    pk `series` = "<name>#<incarnation>#<interval>", sk `start`; the minute buckets'
 *                  first/last versions serve since/until as an index on time.
 */
export const COUNTERS_PARTITION_KEY = 'name';
export const BY_NAME_INDEX = 'by-name';
export const BY_NAME_PARTITION_KEY = 'kind';
export const BY_NAME_SORT_KEY = 'name';
export const COUNTER_KIND = 'counter';

export const HISTORY_PARTITION_KEY = 'counter';
export const HISTORY_SORT_KEY = 'version';
/** The change's time on a history entry; `since`/`until` find their versions through the minute rollups. */
export const HISTORY_TIME_KEY = 'created_at';
/** Set only when retention is configured; TTL deletes the entry some time after it. */
export const EXPIRES_AT = 'expires_at';
/** A history page's changes, oldest first (history-page.ts); its sort key is the version of its last. */
export const HISTORY_PAGE_CHANGES_KEY = 'changes';
/** The version of a history page's first entry. */
export const HISTORY_PAGE_FIRST_KEY = 'first_version';
/**
 * The most entries one history page holds: a page and the versions before it lie within this many
 * versions, which bounds the sort-key range a reader must look past a window's end.
 */
export const HISTORY_PAGE_ENTRIES = 100;

/** rollups table: pk `series` = "<name>#<incarnation>#<interval>", sk `start` (the bucket's ISO start). */
export const ROLLUPS_PARTITION_KEY = 'series';
export const ROLLUPS_SORT_KEY = 'start';

/** idempotency table: pk `id` (idempotency-table.ts); TTL on EXPIRES_AT. */
export const IDEMPOTENCY_PARTITION_KEY = 'id';

export interface KeySpec {
  name: string;
  type: 'S' | 'N';
}

/** A table's keys, indexes, stream and TTL attribute: what the stack and the local engine create. */
export interface TableSchema {
  partitionKey: KeySpec;
  sortKey?: KeySpec;
  stream?: 'NEW_AND_OLD_IMAGES';
  /** The attribute DynamoDB's TTL deletes items by (epoch seconds). */
  ttlAttribute?: string;
  indexes: { name: string; partitionKey: KeySpec; sortKey: KeySpec; projection: 'KEYS_ONLY' }[];
}

export const COUNTERS_TABLE: TableSchema = {
  partitionKey: { name: COUNTERS_PARTITION_KEY, type: 'S' },
  // The history consumer needs both images: the change is their difference.
  stream: 'NEW_AND_OLD_IMAGES',
  indexes: [
    {
      name: BY_NAME_INDEX,
      partitionKey: { name: BY_NAME_PARTITION_KEY, type: 'S' },
      sortKey: { name: BY_NAME_SORT_KEY, type: 'S' },
      // Increments change no key, so a keys-only index costs a write only on create and delete.
      projection: 'KEYS_ONLY',
    },
  ],
};

export const HISTORY_TABLE: TableSchema = {
  partitionKey: { name: HISTORY_PARTITION_KEY, type: 'S' },
  sortKey: { name: HISTORY_SORT_KEY, type: 'N' },
  ttlAttribute: EXPIRES_AT,
  indexes: [],
};

/** Series rollups: one item per counter, interval and UTC bucket; kept when raw history expires. */
export const ROLLUPS_TABLE: TableSchema = {
  partitionKey: { name: ROLLUPS_PARTITION_KEY, type: 'S' },
  sortKey: { name: ROLLUPS_SORT_KEY, type: 'S' },
  indexes: [],
};

export const IDEMPOTENCY_TABLE: TableSchema = {
  partitionKey: { name: IDEMPOTENCY_PARTITION_KEY, type: 'S' },
  ttlAttribute: EXPIRES_AT,
  indexes: [],
};

/** Names never contain '#', so the separator cannot make two counters' keys collide. */
export function historyKey(name: string, incarnation: string): string {
  return `${name}#${incarnation}`;
}

/** The name and incarnation a history key was made of (historyKey). */
export function counterOfHistoryKey(key: string): { name: string; incarnation: string } {
  const at = key.indexOf('#');
  return at === -1
    ? { name: key, incarnation: '' }
    : { name: key.slice(0, at), incarnation: key.slice(at + 1) };
}

export function seriesKey(historyKeyOfCounter: string, interval: string): string {
  return `${historyKeyOfCounter}#${interval}`;
}

/** The item of shard `index` (1..N-1) of a sharded counter; shard 0 is the counter's own item. */
export function shardKey(name: string, index: number): string {
  return index === 0 ? name : `${name}#${index}`;
}

/**
 * How far a counter's value is from its bounds: `max - value` and `value - min`, moved by every
 * change with the value, so an increment's condition can compare them with its amount
 * (change-rules.ts withinBounds). Without the bound they hold `-value` and `value`, which no condition
 * reads.
 */
export const ROOM_ABOVE = 'room_above';
export const ROOM_BELOW = 'room_below';

/**
 * Keyed changes (idempotency.ts). The counter item a keyed change writes carries the change's record
 * id and attempt, so the stream tells the consumer which attempt's write it was (keyed-witness.ts).
 */
export const TAG_ID = 'tag_id';
export const TAG_ATTEMPT = 'tag_attempt';
/** A recovery's latest probe of this item: "<record id> <fenced attempt> <nonce>" (idempotency.ts). */
export const PROBE = 'probe';

/**
 * The attempts of one record that a recovery has fenced off this item: a string set that every write
 * of a keyed attempt checks it is not in. Named per record, so probes of other keys never touch it.
 */
export function fenceAttribute(recordId: string): string {
  return `fence_${recordId}`;
}
