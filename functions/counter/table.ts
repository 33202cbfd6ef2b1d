/**
 * The storage layout, in one place: the CDK tables (lib/table-schemas.ts), the local server and the
 * repositories all read these names.
 *
 * counters table   pk `name`; one item per counter (schema.ts StoredCounter) plus `kind`, which puts
 *                  the counter in the `by-name` index (KEYS_ONLY, so increments never write to it).
 * history table    pk `counter` = "<name>#<incarnation>", sk `version`.
 */
export const COUNTERS_PARTITION_KEY = 'name';
export const BY_NAME_INDEX = 'by-name';
export const BY_NAME_PARTITION_KEY = 'kind';
export const BY_NAME_SORT_KEY = 'name';
export const COUNTER_KIND = 'counter';

export const HISTORY_PARTITION_KEY = 'counter';
export const HISTORY_SORT_KEY = 'version';

/** Names never contain '#', so the separator cannot make two counters' keys collide. */
export function historyKey(name: string, incarnation: string): string {
  return `${name}#${incarnation}`;
}
