import { BatchGetCommand, type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { retryPause } from '../shared/retry.ts';
import { CounterIsSharded } from './change-rules.ts';
import { CounterTable, counterOf, explain } from './counter-table.ts';
import { plainChange, plainDeletion, type TransactItem } from './counter-writes.ts';
import { CounterBusyError, ShardLayoutError } from './errors.ts';
import { decodePage } from './history-page.ts';
import type {
  ChangeInput,
  CounterRepository,
  HistoryQuery,
  KeyedAttempt,
  ListQuery,
  Page,
  SeriesQuery,
} from './repository.ts';
import {
  type BoundChange,
  type HistoryEntry,
  historyEntry,
  type StoredCounter,
  seriesBucket,
  storedCounter,
} from './schema.ts';
import { bucketStart, type Interval, type SeriesBucket } from './series.ts';
import { layoutOf, ShardedCounters } from './sharded-counters.ts';
import {
  BY_NAME_INDEX,
  BY_NAME_PARTITION_KEY,
  BY_NAME_SORT_KEY,
  COUNTER_KIND,
  EXPIRES_AT,
  HISTORY_PAGE_CHANGES_KEY,
  HISTORY_PAGE_ENTRIES,
  HISTORY_PARTITION_KEY,
  HISTORY_SORT_KEY,
  HISTORY_TIME_KEY,
  historyKey,
  ROLLUPS_PARTITION_KEY,
  ROLLUPS_SORT_KEY,
  seriesKey,
} from './table.ts';

export interface TableNames {
  counters: string;
  history: string;
  rollups: string;
  /** Keyed changes' records: a delete's answer is written in the delete's own transaction. */
  idempotency?: string | undefined;
}

/** Pages a sharded counter's history read asks for first; later reads size themselves by what came. */
const FIRST_PAGES_READ = 4;

/**
 * DynamoDB-backed counters: every change is a single UpdateItem or DeleteItem, never a read first,
 * built with its rules by counter-writes.ts and sent by counter-table.ts. A counter found sharded is
 * left to sharded-counters.ts (docs/sharding.md), which this instance then remembers it by.
 */
export class DynamoCounterRepository implements CounterRepository {
  private readonly table: CounterTable;
  private readonly sharded: ShardedCounters;

  /**
   * @param client reads and deletes, with the SDK's standard retries
   * @param changes increments and sets, which must not be sent again after an ambiguous failure
   *   (functions/shared/dynamodb.ts); the same client by default
   */
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tables: TableNames,
    changes: DynamoDBDocumentClient = client,
  ) {
    this.table = new CounterTable(client, changes, tables.counters, () => tables.idempotency);
    this.sharded = new ShardedCounters(this.table);
  }

  async get(name: string): Promise<StoredCounter | undefined> {
    // A sharded counter this instance has read before: its snapshot holds its own item too.
    const known = this.sharded.known(name);
    if (known !== undefined) return this.sharded.read(name, known);
    const counter = counterOf(await this.table.item(name));
    if (counter?.shards === undefined) return counter;
    return this.sharded.read(name, this.sharded.remember(name, layoutOf(counter)));
  }

  itemsOf(name: string): string[] {
    return this.sharded.itemsOf(name);
  }

  async fence(items: readonly string[], recordId: string, attempt: string): Promise<void> {
    await this.table.fence(items, recordId, attempt);
  }

  async increment(
    input: ChangeInput & { by: number; readBack?: boolean | undefined },
  ): Promise<StoredCounter | undefined> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const known = this.sharded.known(input.name);
      if (known !== undefined) {
        const result = await this.sharded.increment(input, known);
        if (result !== 'stale') return result;
        // Deleted, or created again: find out what the name is now.
        this.sharded.forget(input.name);
      }
      try {
        return await this.table.update(
          input.name,
          plainChange(this.table.name, { ...input, op: 'increment' }),
        );
      } catch (error) {
        if (!(error instanceof CounterIsSharded)) throw error;
        this.sharded.remember(input.name, error.layout);
      }
    }
    // Deleted and created again under this change three times over.
    throw new CounterBusyError(input.name);
  }

  async set(
    input: ChangeInput & { value: number; shards?: number | undefined; min?: BoundChange; max?: BoundChange },
  ): Promise<StoredCounter> {
    if (input.shards !== undefined && input.shards > 1) {
      if (typeof input.min === 'number' || typeof input.max === 'number')
        throw ShardLayoutError.bounded(input.name);
      return this.sharded.create(input, input.shards, () => this.get(input.name));
    }
    try {
      return await this.table.update(input.name, plainChange(this.table.name, { ...input, op: 'set' }));
    } catch (error) {
      if (error instanceof CounterIsSharded)
        throw ShardLayoutError.setOfSharded(input.name, error.layout.shards);
      throw error;
    }
  }

  async delete(input: {
    name: string;
    expectedVersion?: number | undefined;
    attempt?: KeyedAttempt | undefined;
  }): Promise<void> {
    const known = this.sharded.known(input.name);
    if (known !== undefined && (await this.sharded.delete(input, known)) === 'deleted') return;
    const write = plainDeletion(this.table.name, input);
    try {
      if (input.attempt === undefined) await this.table.delete(write);
      else await this.table.transact(input.name, [{ Delete: write.request } as TransactItem], input.attempt);
    } catch (error) {
      const refusal = explain(error, write.rules);
      if (!(refusal instanceof CounterIsSharded)) throw refusal;
      // A sharded counter's shards go with it, in one transaction.
      if ((await this.sharded.delete(input, this.sharded.remember(input.name, refusal.layout))) === 'stale') {
        throw new CounterBusyError(input.name);
      }
    }
  }

  async list(input: ListQuery): Promise<Page<StoredCounter> & { lastName?: string | undefined }> {
    // The index is KEYS_ONLY (increments never write to it); the values come from a consistent
    // BatchGet of the page's names, so a listing shows the same values a GET would.
    const { Items = [] } = await this.client.send(
      new QueryCommand({
        TableName: this.tables.counters,
        IndexName: BY_NAME_INDEX,
        KeyConditionExpression:
          input.prefix === '' ? '#kind = :kind' : '#kind = :kind AND begins_with(#name, :prefix)',
        ExpressionAttributeNames: {
          '#kind': BY_NAME_PARTITION_KEY,
          ...(input.prefix === '' ? {} : { '#name': BY_NAME_SORT_KEY }),
        },
        ExpressionAttributeValues: {
          ':kind': COUNTER_KIND,
          ...(input.prefix === '' ? {} : { ':prefix': input.prefix }),
        },
        ...(input.after === undefined
          ? {}
          : {
              ExclusiveStartKey: { [BY_NAME_PARTITION_KEY]: COUNTER_KIND, [BY_NAME_SORT_KEY]: input.after },
            }),
        // One more than asked tells whether another page exists without an empty last page.
        Limit: input.limit + 1,
      }),
    );
    const names = Items.slice(0, input.limit).map((item) => String(item[BY_NAME_SORT_KEY]));
    const found = await this.batchGet(names);
    // A sharded counter's item holds one shard of it: its total comes from a snapshot of all of them.
    await Promise.all(
      [...found.values()].flatMap((counter) =>
        counter.shards === undefined
          ? []
          : [
              this.sharded.read(counter.name, layoutOf(counter)).then((total) => {
                if (total === undefined) found.delete(counter.name);
                else found.set(counter.name, total);
              }),
            ],
      ),
    );
    return {
      items: names.flatMap((name) => found.get(name) ?? []),
      hasMore: Items.length > input.limit,
      lastName: names.at(-1),
    };
  }

  async history(input: HistoryQuery): Promise<Page<HistoryEntry> & { lastVersion?: number | undefined }> {
    const key = historyKey(input.name, input.incarnation);
    const paged = input.paged === true;
    // A plain counter's entries of one batch are written concurrently, so version v + 1 may be stored
    // before v. A reader that answered it would move its cursor past v for good. So a plain history
    // answers only up to the last version the minute rollups hold: the consumer rolls versions up only
    // once they and every version before them are written (record-history.ts), which makes it a
    // high-water mark below which there is no gap (docs/history.md). A sharded counter's pages are
    // written in order, each in its sequencer's transaction, and need no mark.
    // A time window becomes a version window through the same rollups: two one-item reads, however
    // long the history. The edges are independent reads: they go out together.
    const [first, last] = await Promise.all([
      input.since === undefined ? undefined : this.versionAtTime(key, '>=', input.since),
      input.until === undefined && paged ? undefined : this.versionAtTime(key, '<', input.until),
    ]);
    if (
      (input.since !== undefined && first === undefined) ||
      ((input.until !== undefined || !paged) && last === undefined)
    ) {
      return { items: [], hasMore: false };
    }
    const from = Math.max((input.afterVersion ?? 0) + 1, first ?? 1);
    const to = last;
    if (to !== undefined && to < from) return { items: [], hasMore: false };
    const { since, until } = input;
    const inWindow = (entry: HistoryEntry) =>
      entry.version >= from &&
      (to === undefined || entry.version <= to) &&
      (since === undefined || entry.created_at >= since) &&
      (until === undefined || entry.created_at < until);
    const timeFilter = [
      ...(since === undefined ? [] : ['#time >= :since']),
      ...(until === undefined ? [] : ['#time < :until']),
    ].join(' AND ');
    const found: HistoryEntry[] = [];
    let start: Record<string, unknown> | undefined;
    let items = 0;
    // One read of limit + 1 entries; a sharded counter's pages hold 1 to HISTORY_PAGE_ENTRIES entries
    // each, so its reads go on, each sized by the entries per page seen so far, until there are enough.
    let limit = paged ? Math.min(input.limit + 1, FIRST_PAGES_READ) : input.limit + 1;
    do {
      const { Items = [], LastEvaluatedKey } = await this.client.send(
        new QueryCommand({
          TableName: this.tables.history,
          // A page holding `to` is stored under a version up to HISTORY_PAGE_ENTRIES - 1 above it.
          KeyConditionExpression:
            to === undefined
              ? '#counter = :counter AND #version >= :from'
              : '#counter = :counter AND #version BETWEEN :from AND :to',
          // TTL deletes lazily: an entry past its expiry is gone for readers at once. The window's edge
          // minutes may hold changes just outside it; a page's entries are filtered here, below.
          FilterExpression: [
            '(attribute_not_exists(#expires) OR #expires > :now)',
            ...(timeFilter === ''
              ? []
              : [paged ? `(attribute_exists(#changes) OR (${timeFilter}))` : timeFilter]),
          ].join(' AND '),
          ExpressionAttributeNames: {
            '#counter': HISTORY_PARTITION_KEY,
            '#version': HISTORY_SORT_KEY,
            '#expires': EXPIRES_AT,
            ...(timeFilter === '' ? {} : { '#time': HISTORY_TIME_KEY }),
            ...(timeFilter !== '' && paged ? { '#changes': HISTORY_PAGE_CHANGES_KEY } : {}),
          },
          ExpressionAttributeValues: {
            ':counter': key,
            ':from': from,
            ...(to === undefined ? {} : { ':to': paged ? to + HISTORY_PAGE_ENTRIES - 1 : to }),
            ':now': Math.floor(Date.now() / 1000),
            ...(since === undefined ? {} : { ':since': since }),
            ...(until === undefined ? {} : { ':until': until }),
          },
          Limit: limit,
          ExclusiveStartKey: start,
          // The mark came from another table: read every entry written before it was, not a replica
          // that may hold v + 1 and not yet v.
          ...(paged ? {} : { ConsistentRead: true }),
        }),
      );
      for (const item of Items) found.push(...entriesOf(item).filter(inWindow));
      items += Items.length;
      start = LastEvaluatedKey;
      const perPage = Math.max(1, found.length / Math.max(1, items));
      limit = Math.max(1, Math.min(input.limit + 1, Math.ceil((input.limit + 1 - found.length) / perPage)));
    } while (paged && start !== undefined && found.length <= input.limit);
    const more = found.length > input.limit;
    const page = found.slice(0, input.limit);
    const evaluated = start?.[HISTORY_SORT_KEY];
    return {
      items: page,
      hasMore: more || start !== undefined,
      lastVersion: more
        ? page.at(-1)?.version
        : typeof evaluated === 'number'
          ? evaluated
          : page.at(-1)?.version,
    };
  }

  async series(input: SeriesQuery): Promise<Page<SeriesBucket>> {
    // Both bounds are on the sort key, so both go in the key condition (DynamoDB refuses a filter on a
    // key attribute): the first bucket after the cursor's is one interval later, since buckets start
    // on the interval; until is exclusive, so the last bucket is the one starting strictly before it.
    const lowers = [
      input.afterStart === undefined ? undefined : nextBucket(input.afterStart, input.interval),
      input.since === undefined ? undefined : Date.parse(bucketStart(input.since, input.interval)),
    ].flatMap((time) => (time === undefined ? [] : [time]));
    const lowest = lowers.length === 0 ? undefined : Math.max(...lowers);
    const highest = input.until === undefined ? undefined : Date.parse(input.until) - 1;
    const lower = lowest === undefined ? undefined : bucketKey(lowest);
    const upper = highest === undefined ? undefined : bucketKey(highest);
    // Past the last instant a bucket can start at, or bounds that cross: nothing to read.
    if (
      lower === null ||
      upper === null ||
      (lowest !== undefined && highest !== undefined && lowest > highest)
    ) {
      return { items: [], hasMore: false };
    }
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
   * Where a time window starts or ends in versions, from the minute rollups (an index on time the
   * consumer keeps anyway): the first version of the first two minutes at or after `time`'s minute
   * ('>='), or the last version of the last two minutes starting before `time` ('<'). Two, because
   * versions and times may disagree across one minute boundary (clocks of different Lambda instances;
   * a sharded counter's shards numbered in the order the consumer met them), so a minute's neighbour
   * may hold an earlier version. The minutes at the edges may hold changes outside the window; the
   * history query filters those few out. With no `time` ('<' only): the last version of the last two
   * minutes, the history's high-water mark.
   */
  private async versionAtTime(
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

  private async batchGet(names: string[]): Promise<Map<string, StoredCounter>> {
    const found = new Map<string, StoredCounter>();
    let keys = names.map((name) => ({ name }));
    for (let attempt = 0; keys.length > 0; attempt++) {
      if (attempt > 8) throw new Error('BatchGet left keys unprocessed after 8 retries');
      if (attempt > 0) await retryPause(attempt, { baseMs: 25, capMs: 1_000 });
      const { Responses, UnprocessedKeys } = await this.client.send(
        new BatchGetCommand({
          RequestItems: { [this.tables.counters]: { Keys: keys, ConsistentRead: true } },
        }),
      );
      for (const item of Responses?.[this.tables.counters] ?? []) {
        const counter = storedCounter.parse(item);
        found.set(counter.name, counter);
      }
      keys = (UnprocessedKeys?.[this.tables.counters]?.Keys ?? []).map((key) => ({ name: String(key.name) }));
    }
    return found;
  }
}

const INTERVAL_MS: Record<Interval, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** The start of the bucket after the one starting at `start` (UTC has no leap seconds in ISO time). */
function nextBucket(start: string, interval: Interval): number {
  return Date.parse(start) + INTERVAL_MS[interval];
}

/** A bucket bound as the sort key holds it; null outside the years 0000-9999, where ISO text stops sorting by time. */
function bucketKey(time: number): string | null {
  if (!(time >= Date.parse('0000-01-01T00:00:00.000Z') && time <= Date.parse('9999-12-31T23:59:59.999Z'))) {
    return null;
  }
  return new Date(time).toISOString();
}

/** The entries a history item holds: its own, or a page's. */
function entriesOf(item: Record<string, unknown>): HistoryEntry[] {
  return HISTORY_PAGE_CHANGES_KEY in item ? decodePage(item) : [historyEntry.parse(item)];
}
