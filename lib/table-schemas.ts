import {
  BY_NAME_INDEX,
  BY_NAME_PARTITION_KEY,
  BY_NAME_SORT_KEY,
  COUNTERS_PARTITION_KEY,
  HISTORY_PARTITION_KEY,
  HISTORY_SORT_KEY,
  ROLLUPS_PARTITION_KEY,
  ROLLUPS_SORT_KEY,
} from '../functions/counter/table.ts';

/**
 * The tables' keys and indexes, declared once. The CDK construct builds its tables from these and
 * the local server creates the same tables from them in the local engine.
 */
export interface KeySpec {
  name: string;
  type: 'S' | 'N';
}

export interface TableSchema {
  partitionKey: KeySpec;
  sortKey?: KeySpec;
  stream?: 'NEW_AND_OLD_IMAGES';
  indexes: { name: string; partitionKey: KeySpec; sortKey: KeySpec; projection: 'KEYS_ONLY' }[];
}

export const COUNTERS_TABLE: TableSchema = {
  partitionKey: { name: COUNTERS_PARTITION_KEY, type: 'S' },
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
  indexes: [],
};

/** Series rollups: one item per counter, interval and UTC bucket; kept when raw history expires. */
export const ROLLUPS_TABLE: TableSchema = {
  partitionKey: { name: ROLLUPS_PARTITION_KEY, type: 'S' },
  sortKey: { name: ROLLUPS_SORT_KEY, type: 'S' },
  indexes: [],
};

/** Idempotency records (functions/counter/idempotency.ts): pk `id`, expiring through TTL on `expires_at`. */
export const IDEMPOTENCY_TABLE: TableSchema = {
  partitionKey: { name: 'id', type: 'S' },
  indexes: [],
};

export const IDEMPOTENCY_TTL_ATTRIBUTE = 'expires_at';
export const HISTORY_TTL_ATTRIBUTE = 'expires_at';
