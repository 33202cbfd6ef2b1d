/** Rollup intervals: a series is a counter's changes summed into UTC buckets of one of these. */
export const INTERVALS = ['minute', 'hour', 'day'] as const;
export type Interval = (typeof INTERVALS)[number];

/** One bucket of a series, as the API shows it. */
export interface SeriesBucket {
  /** The bucket's first instant, ISO 8601 UTC. */
  start: string;
  /** The sum of the changes' deltas in the bucket. */
  delta: number;
  /** How many changes the bucket holds. */
  count: number;
  /** The counter's value after the bucket's last change. */
  value: number;
}

/** One change as a rollup absorbs it. */
export interface RollupChange {
  version: number;
  delta: number;
  value: number;
}

const PREFIX_LENGTH: Record<Interval, number> = { minute: 16, hour: 13, day: 10 };
const SUFFIX: Record<Interval, string> = { minute: ':00.000Z', hour: ':00:00.000Z', day: 'T00:00:00.000Z' };

/** The start of the UTC bucket holding `time` (an ISO 8601 UTC instant such as toISOString() makes). */
export function bucketStart(time: string, interval: Interval): string {
  const iso = new Date(time).toISOString();
  return `${iso.slice(0, PREFIX_LENGTH[interval])}${SUFFIX[interval]}`;
}

/**
 * A counter's changes grouped into the buckets of every interval, each with its changes in version
 * order. The consumer writes one rollup update per bucket per batch, not one per change.
 */
export function bucketsOf(
  changes: readonly (RollupChange & { created_at: string })[],
): { interval: Interval; start: string; changes: RollupChange[] }[] {
  const buckets = new Map<string, { interval: Interval; start: string; changes: RollupChange[] }>();
  for (const change of [...changes].sort((a, b) => a.version - b.version)) {
    for (const interval of INTERVALS) {
      const start = bucketStart(change.created_at, interval);
      const key = `${interval}|${start}`;
      let bucket = buckets.get(key);
      if (bucket === undefined) {
        bucket = { interval, start, changes: [] };
        buckets.set(key, bucket);
      }
      bucket.changes.push({ version: change.version, delta: change.delta, value: change.value });
    }
  }
  return [...buckets.values()];
}

/** What a bucket gains from changes it has not yet absorbed (those after `absorbedUpTo`). */
export function rollupOf(
  changes: readonly RollupChange[],
  absorbedUpTo = 0,
): { firstVersion: number; lastVersion: number; delta: number; count: number; value: number } | undefined {
  const fresh = changes.filter((change) => change.version > absorbedUpTo);
  const first = fresh[0];
  const last = fresh.at(-1);
  if (first === undefined || last === undefined) return undefined;
  return {
    firstVersion: first.version,
    lastVersion: last.version,
    delta: fresh.reduce((sum, change) => sum + change.delta, 0),
    count: fresh.length,
    value: last.value,
  };
}
