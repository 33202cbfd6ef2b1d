import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { deletePartition } from './delete-partition.ts';
import type { Page, SeriesQuery } from './repository.ts';
import { type HistoryEntry, seriesBucket } from './schema.ts';
import {
  bucketStart,
  bucketsOf,
  INTERVALS,
  type Interval,
  type RollupChange,
  rollupOf,
  type SeriesBucket,
} from './series.ts';
import { historyKey, ROLLUPS_PARTITION_KEY, ROLLUPS_SORT_KEY, seriesKey } from './table.ts';

/** What one bucket gains from changes it has not yet absorbed (series.ts rollupOf). */
type Rollup = NonNullable<ReturnType<typeof rollupOf>>;

/** Tries of a rollup update that keeps finding changes absorbed under it. */
const ROLLUP_ATTEMPTS = 5;

/**
 * The rollups table, read and written here alone: each counter incarnation's series, one bucket per
 * interval and start, updated by the stream consumer and read for GET .../series. The minute
 * buckets' first and last versions double as the history's index on time, and their last version
 * as its high-water mark (versionAtTime).
 *
 * The table's name is read at each use, so a function that never reads the rollups needs no name.
 */
export class DynamoRollupsStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tables: { readonly rollups: string },
  ) {}

  /**
   * Adds changes (in version order) to one bucket. Versions reach a bucket in order, so the last
   * version it holds says which changes it already absorbed: a batch delivered again adds only the rest.
   */
  async rollUp(key: string, interval: Interval, start: string, changes: RollupChange[]): Promise<void> {
    let absorbed = 0;
    for (let attempt = 0; attempt < ROLLUP_ATTEMPTS; attempt++) {
      const rollup = rollupOf(changes, absorbed);
      if (rollup === undefined) return;
      try {
        await this.client.send(
          new UpdateCommand({
            ...this.update(key, interval, start, rollup),
            ConditionExpression: 'attribute_not_exists(#last) OR #last < :first',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        return;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        // A replay: absorb only the changes after the last one the bucket already holds. No pause:
        // this is no contention, only a bucket further along than the batch thought.
        const last = Number(error.Item?.last_version?.N ?? 0);
        if (last >= rollup.lastVersion) return;
        absorbed = last;
      }
    }
    throw new Error(`rollup ${seriesKey(key, interval)} ${start} kept changing under the consumer`);
  }

  /**
   * Unconditional updates of every bucket `entries` fall in, for a transaction that already makes
   * them happen once (a sharded counter's sequencer step).
   */
  transactUpdates(key: string, entries: readonly HistoryEntry[]) {
    return bucketsOf(entries).flatMap((bucket) => {
      const rollup = rollupOf(bucket.changes);
      if (rollup === undefined) return [];
      return [{ Update: this.update(key, bucket.interval, bucket.start, rollup) }];
    });
  }

  /** Every bucket of a counter incarnation, of every interval. */
  async purge(key: string): Promise<void> {
    for (const interval of INTERVALS) {
      await deletePartition(this.client, {
        table: this.tables.rollups,
        partitionKey: ROLLUPS_PARTITION_KEY,
        sortKey: ROLLUPS_SORT_KEY,
        value: seriesKey(key, interval),
      });
    }
  }

  async series(input: SeriesQuery): Promise<Page<SeriesBucket>> {
    const range = bucketRange(input);
    if (range === 'empty') return { items: [], hasMore: false };
    const { lower, upper } = range;
    // Both bounds are on the sort key, so both go in the key condition (DynamoDB refuses a filter on a
    // key attribute).
    const condition =
      lower !== undefined && upper !== undefined
        ? ' AND #start BETWEEN :lower AND :upper'
        : lower !== undefined
          ? ' AND #start >= :lower'
          : upper !== undefined
            ? ' AND #start <= :upper'
            : '';
    const { Items = [] } = await this.client.send(
      new QueryCommand({
        TableName: this.tables.rollups,
        KeyConditionExpression: `#series = :series${condition}`,
        ExpressionAttributeNames: {
          '#series': ROLLUPS_PARTITION_KEY,
          ...(condition === '' ? {} : { '#start': ROLLUPS_SORT_KEY }),
        },
        ExpressionAttributeValues: {
          ':series': seriesKey(historyKey(input.name, input.incarnation), input.interval),
          ...(lower === undefined ? {} : { ':lower': lower }),
          ...(upper === undefined ? {} : { ':upper': upper }),
        },
        Limit: input.limit + 1,
      }),
    );
    const buckets = Items.map((item) => seriesBucket.parse(item));
    return { items: buckets.slice(0, input.limit), hasMore: buckets.length > input.limit };
  }

  /**
   * Where a time window starts or ends in versions, from the minute buckets (an index on time the
   * consumer keeps anyway): the first version of the first two minutes at or after `time`'s minute
   * ('>='), or the last version of the last two minutes starting before `time` ('<'). Two, because
   * versions and times may disagree across one minute boundary (clocks of different Lambda instances;
   * a sharded counter's shards numbered in the order the consumer met them), so a minute's neighbour
   * may hold an earlier version. The minutes at the edges may hold changes outside the window; the
   * history query filters those few out. With no `time` ('<' only): the last version of the last two
   * minutes, the history's high-water mark.
   */
  async versionAtTime(
    key: string,
    comparison: '>=' | '<',
    time: string | undefined,
  ): Promise<number | undefined> {
    const { Items = [] } = await this.client.send(
      new QueryCommand({
        TableName: this.tables.rollups,
        KeyConditionExpression:
          time === undefined ? '#series = :series' : `#series = :series AND #start ${comparison} :start`,
        ExpressionAttributeNames: {
          '#series': ROLLUPS_PARTITION_KEY,
          ...(time === undefined ? {} : { '#start': ROLLUPS_SORT_KEY }),
        },
        ExpressionAttributeValues: {
          ':series': seriesKey(key, 'minute'),
          ...(time === undefined
            ? {}
            : { ':start': comparison === '>=' ? bucketStart(time, 'minute') : time }),
        },
        ScanIndexForward: comparison === '>=',
        Limit: 2,
      }),
    );
    const versions = Items.map((item) => item[comparison === '>=' ? 'first_version' : 'last_version']).filter(
      (version): version is number => typeof version === 'number',
    );
    if (versions.length === 0) return undefined;
    return comparison === '>=' ? Math.min(...versions) : Math.max(...versions);
  }

  /**
   * What one bucket gains: deltas and counts added, the value after its last change, and the versions
   * it holds (the minute buckets' first and last versions double as an index on time for since/until).
   */
  private update(key: string, interval: Interval, start: string, rollup: Rollup) {
    return {
      TableName: this.tables.rollups,
      Key: { [ROLLUPS_PARTITION_KEY]: seriesKey(key, interval), [ROLLUPS_SORT_KEY]: start },
      UpdateExpression:
        'ADD #delta :delta, #count :count SET #value = :value, #last = :last, #first = if_not_exists(#first, :first)',
      ExpressionAttributeNames: {
        '#delta': 'delta',
        '#count': 'count',
        '#value': 'value',
        '#last': 'last_version',
        '#first': 'first_version',
      },
      ExpressionAttributeValues: {
        ':delta': rollup.delta,
        ':count': rollup.count,
        ':value': rollup.value,
        ':last': rollup.lastVersion,
        ':first': rollup.firstVersion,
      },
    };
  }
}

const INTERVAL_MS: Record<Interval, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/**
 * The sort-key bounds of a series page: the first bucket after the cursor's is one interval later,
 * since buckets start on the interval; until is exclusive, so the last bucket is the one starting
 * strictly before it. 'empty' past the last instant a bucket can start at, or for bounds that cross.
 */
function bucketRange(
  input: SeriesQuery,
): { lower?: string | undefined; upper?: string | undefined } | 'empty' {
  const lowers = [
    input.afterStart === undefined ? undefined : Date.parse(input.afterStart) + INTERVAL_MS[input.interval],
    input.since === undefined ? undefined : Date.parse(bucketStart(input.since, input.interval)),
  ].flatMap((time) => (time === undefined ? [] : [time]));
  const lowest = lowers.length === 0 ? undefined : Math.max(...lowers);
  const highest = input.until === undefined ? undefined : Date.parse(input.until) - 1;
  const lower = lowest === undefined ? undefined : bucketKey(lowest);
  const upper = highest === undefined ? undefined : bucketKey(highest);
  if (
    lower === null ||
    upper === null ||
    (lowest !== undefined && highest !== undefined && lowest > highest)
  ) {
    return 'empty';
  }
  return { lower, upper };
}

/** A bucket bound as the sort key holds it; null outside the years 0000-9999, where ISO text stops sorting by time. */
function bucketKey(time: number): string | null {
  if (!(time >= Date.parse('0000-01-01T00:00:00.000Z') && time <= Date.parse('9999-12-31T23:59:59.999Z'))) {
    return null;
  }
  return new Date(time).toISOString();
}
