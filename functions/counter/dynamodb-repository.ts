import { type AttributeValue, ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { CounterOutOfRangeError, VersionMismatchError } from './errors.ts';
import type {
  ChangeInput,
  CounterRepository,
  HistoryQuery,
  ListQuery,
  Page,
  SeriesQuery,
} from './repository.ts';
import {
  type HistoryEntry,
  historyEntry,
  MAX_VALUE,
  MIN_VALUE,
  type StoredCounter,
  seriesBucket,
  storedCounter,
} from './schema.ts';
import { bucketStart, type SeriesBucket } from './series.ts';
import {
  BY_NAME_INDEX,
  BY_NAME_PARTITION_KEY,
  BY_NAME_SORT_KEY,
  COUNTER_KIND,
  EXPIRES_AT,
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
}

/** Attributes every change writes besides the value and version. */
const CHANGE_SET =
  '#created = if_not_exists(#created, :now), #updated = :now, #op = :op, #actor = :actor, ' +
  '#incarnation = if_not_exists(#incarnation, :incarnation), #kind = if_not_exists(#kind, :kind)';

const CHANGE_NAMES = {
  '#value': 'value',
  '#version': 'version',
  '#created': 'created_at',
  '#updated': 'updated_at',
  '#op': 'op',
  '#actor': 'actor',
  '#incarnation': 'incarnation',
  '#kind': BY_NAME_PARTITION_KEY,
};

export interface CounterUpdate {
  UpdateExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues: Record<string, unknown>;
}

/**
 * The one UpdateItem that applies a change: `ADD` for an increment (atomic, whatever else is writing),
 * `SET` for a set; the version grows by one either way and the item records who did what, so the
 * stream carries it to the history. Shared by plain and keyed (transactional) changes.
 */
export function counterUpdate(op: 'increment', input: ChangeInput & { by: number }): CounterUpdate;
export function counterUpdate(op: 'set', input: ChangeInput & { value: number }): CounterUpdate;
export function counterUpdate(
  op: 'increment' | 'set',
  input: ChangeInput & { by?: number; value?: number },
): CounterUpdate {
  const common = {
    ':now': input.now,
    ':actor': input.actor,
    ':incarnation': input.newIncarnation,
    ':kind': COUNTER_KIND,
    ':one': 1,
    ':op': op,
  };
  return op === 'increment'
    ? {
        UpdateExpression: `ADD #value :by, #version :one SET ${CHANGE_SET}`,
        ExpressionAttributeNames: CHANGE_NAMES,
        ExpressionAttributeValues: { ...common, ':by': input.by },
      }
    : {
        UpdateExpression: `SET #value = :value, #version = if_not_exists(#version, :zero) + :one, ${CHANGE_SET}`,
        ExpressionAttributeNames: CHANGE_NAMES,
        ExpressionAttributeValues: { ...common, ':value': input.value, ':zero': 0 },
      };
}

/** DynamoDB-backed counters: every change is a single UpdateItem or DeleteItem, never a read first. */
export class DynamoCounterRepository implements CounterRepository {
  /**
   * @param client reads and deletes, with the SDK's standard retries
   * @param changes increments and sets, which must not be sent again after an ambiguous failure
   *   (functions/shared/dynamodb.ts); the same client by default
   */
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tables: TableNames,
    private readonly changes: DynamoDBDocumentClient = client,
  ) {}

  async get(name: string): Promise<StoredCounter | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tables.counters, Key: { name }, ConsistentRead: true }),
    );
    return Item === undefined ? undefined : storedCounter.parse(Item);
  }

  async increment(input: ChangeInput & { by: number }): Promise<StoredCounter> {
    // The range check lives in the condition, so the add and the check are one atomic step. The
    // bound is computed on the side that cannot overflow: MAX - by for by > 0, MIN - by for by < 0.
    const conditions: string[] = [];
    const bound: Record<string, number> = {};
    if (input.by > 0) {
      conditions.push('(attribute_not_exists(#value) OR #value <= :bound)');
      bound[':bound'] = MAX_VALUE - input.by;
    } else if (input.by < 0) {
      conditions.push('(attribute_not_exists(#value) OR #value >= :bound)');
      bound[':bound'] = MIN_VALUE - input.by;
    }
    const attempted = input.by >= 0 ? `adding ${input.by}` : `subtracting ${-input.by}`;
    return this.change(input, counterUpdate('increment', input), conditions, bound, attempted);
  }

  async set(input: ChangeInput & { value: number }): Promise<StoredCounter> {
    return this.change(input, counterUpdate('set', input), [], {}, `setting ${input.value}`);
  }

  async delete(input: {
    name: string;
    expectedVersion?: number | undefined;
  }): Promise<StoredCounter | undefined> {
    const expected = versionCondition(input.expectedVersion);
    try {
      const { Attributes } = await this.client.send(
        new DeleteCommand({
          TableName: this.tables.counters,
          Key: { name: input.name },
          ReturnValues: 'ALL_OLD',
          ...(expected === undefined
            ? {}
            : {
                ConditionExpression: expected.expression,
                ExpressionAttributeNames: { '#version': 'version' },
                ...(expected.values === undefined ? {} : { ExpressionAttributeValues: expected.values }),
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              }),
        }),
      );
      return Attributes === undefined ? undefined : storedCounter.parse(Attributes);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException && input.expectedVersion !== undefined) {
        throw new VersionMismatchError(input.name, input.expectedVersion, currentOf(error.Item)?.version);
      }
      throw error;
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
    return {
      items: names.flatMap((name) => found.get(name) ?? []),
      hasMore: Items.length > input.limit,
      lastName: names.at(-1),
    };
  }

  async history(input: HistoryQuery): Promise<Page<HistoryEntry> & { lastVersion?: number | undefined }> {
    const key = historyKey(input.name, input.incarnation);
    // A time window becomes a version window through the minute rollups: two one-item reads, however
    // long the history.
    // The two edges are independent one-item reads: they go out together.
    const [first, last] = await Promise.all([
      input.since === undefined ? undefined : this.versionAtTime(key, '>=', input.since),
      input.until === undefined ? undefined : this.versionAtTime(key, '<', input.until),
    ]);
    if (
      (input.since !== undefined && first === undefined) ||
      (input.until !== undefined && last === undefined)
    ) {
      return { items: [], hasMore: false };
    }
    const from = Math.max((input.afterVersion ?? 0) + 1, first ?? 1);
    const to = last;
    if (to !== undefined && to < from) return { items: [], hasMore: false };
    const { Items = [], LastEvaluatedKey } = await this.client.send(
      new QueryCommand({
        TableName: this.tables.history,
        KeyConditionExpression:
          to === undefined
            ? '#counter = :counter AND #version >= :from'
            : '#counter = :counter AND #version BETWEEN :from AND :to',
        // TTL deletes lazily: an entry past its expiry is gone for readers at once. The window's edge
        // minutes may hold changes just outside it.
        FilterExpression: [
          '(attribute_not_exists(#expires) OR #expires > :now)',
          ...(input.since === undefined ? [] : ['#time >= :since']),
          ...(input.until === undefined ? [] : ['#time < :until']),
        ].join(' AND '),
        ExpressionAttributeNames: {
          '#counter': HISTORY_PARTITION_KEY,
          '#version': HISTORY_SORT_KEY,
          '#expires': EXPIRES_AT,
          ...(input.since === undefined && input.until === undefined ? {} : { '#time': HISTORY_TIME_KEY }),
        },
        ExpressionAttributeValues: {
          ':counter': key,
          ':from': from,
          ...(to === undefined ? {} : { ':to': to }),
          ':now': Math.floor(Date.now() / 1000),
          ...(input.since === undefined ? {} : { ':since': input.since }),
          ...(input.until === undefined ? {} : { ':until': input.until }),
        },
        Limit: input.limit + 1,
      }),
    );
    const items = Items.slice(0, input.limit).map((item) => historyEntry.parse(item));
    const more = Items.length > input.limit;
    const evaluated = LastEvaluatedKey?.[HISTORY_SORT_KEY];
    return {
      items,
      hasMore: more || LastEvaluatedKey !== undefined,
      lastVersion: more
        ? items.at(-1)?.version
        : typeof evaluated === 'number'
          ? evaluated
          : items.at(-1)?.version,
    };
  }

  async series(input: SeriesQuery): Promise<Page<SeriesBucket>> {
    const lower =
      input.afterStart ?? (input.since === undefined ? undefined : bucketStart(input.since, input.interval));
    const conditions = ['#series = :series'];
    if (lower !== undefined && input.until !== undefined) conditions.push('#start BETWEEN :lower AND :upper');
    else if (lower !== undefined) conditions.push('#start >= :lower');
    else if (input.until !== undefined) conditions.push('#start <= :upper');
    const { Items = [] } = await this.client.send(
      new QueryCommand({
        TableName: this.tables.rollups,
        KeyConditionExpression: conditions.join(' AND '),
        ...(input.afterStart === undefined ? {} : { FilterExpression: '#start <> :lower' }),
        ExpressionAttributeNames: {
          '#series': ROLLUPS_PARTITION_KEY,
          ...(conditions.length > 1 ? { '#start': ROLLUPS_SORT_KEY } : {}),
        },
        ExpressionAttributeValues: {
          ':series': seriesKey(historyKey(input.name, input.incarnation), input.interval),
          ...(lower === undefined ? {} : { ':lower': lower }),
          // until is exclusive: the last bucket is the one starting strictly before it.
          ...(input.until === undefined
            ? {}
            : { ':upper': new Date(Date.parse(input.until) - 1).toISOString() }),
        },
        Limit: input.limit + 1 + (input.afterStart === undefined ? 0 : 1),
      }),
    );
    const buckets = Items.map((item) => seriesBucket.parse(item));
    return { items: buckets.slice(0, input.limit), hasMore: buckets.length > input.limit };
  }

  /**
   * Where a time window starts or ends in versions, from the minute rollups (an index on time the
   * consumer keeps anyway): the first version of the first minute at or after `time`'s minute ('>='),
   * or the last version of the last minute starting before `time` ('<'). The minute holding `time`
   * may hold changes on the other side of it; the history query filters those few out.
   */
  private async versionAtTime(
    key: string,
    comparison: '>=' | '<',
    time: string,
  ): Promise<number | undefined> {
    const { Items = [] } = await this.client.send(
      new QueryCommand({
        TableName: this.tables.rollups,
        KeyConditionExpression: `#series = :series AND #start ${comparison} :start`,
        ExpressionAttributeNames: { '#series': ROLLUPS_PARTITION_KEY, '#start': ROLLUPS_SORT_KEY },
        ExpressionAttributeValues: {
          ':series': seriesKey(key, 'minute'),
          ':start': comparison === '>=' ? bucketStart(time, 'minute') : time,
        },
        ScanIndexForward: comparison === '>=',
        Limit: 1,
      }),
    );
    const version = Items[0]?.[comparison === '>=' ? 'first_version' : 'last_version'];
    return typeof version === 'number' ? version : undefined;
  }

  private async change(
    input: ChangeInput,
    update: CounterUpdate,
    conditions: string[],
    conditionValues: Record<string, unknown>,
    attempted: string,
  ): Promise<StoredCounter> {
    const expected = versionCondition(input.expectedVersion);
    const allConditions = expected === undefined ? conditions : [...conditions, expected.expression];
    try {
      const { Attributes } = await this.changes.send(
        new UpdateCommand({
          TableName: this.tables.counters,
          Key: { name: input.name },
          ...update,
          ...(allConditions.length === 0 ? {} : { ConditionExpression: allConditions.join(' AND ') }),
          ExpressionAttributeValues: {
            ...update.ExpressionAttributeValues,
            ...conditionValues,
            ...expected?.values,
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return storedCounter.parse(Attributes);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        const current = currentOf(error.Item);
        if (input.expectedVersion !== undefined && (current?.version ?? 0) !== input.expectedVersion) {
          throw new VersionMismatchError(input.name, input.expectedVersion, current?.version);
        }
        throw new CounterOutOfRangeError(input.name, current?.value ?? 0, attempted);
      }
      throw error;
    }
  }

  private async batchGet(names: string[]): Promise<Map<string, StoredCounter>> {
    const found = new Map<string, StoredCounter>();
    let keys = names.map((name) => ({ name }));
    for (let attempt = 0; keys.length > 0; attempt++) {
      if (attempt > 8) throw new Error('BatchGet left keys unprocessed after 8 retries');
      if (attempt > 0) await delay(Math.min(1000, 25 * 2 ** attempt));
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

/** If-Match as a condition: version 0 is the counter that does not exist yet. */
function versionCondition(
  expectedVersion: number | undefined,
): { expression: string; values?: Record<string, number> } | undefined {
  if (expectedVersion === undefined) return undefined;
  if (expectedVersion === 0) return { expression: 'attribute_not_exists(#version)' };
  return { expression: '#version = :expected', values: { ':expected': expectedVersion } };
}

/** The item a failed condition returns (ALL_OLD), still in the low-level shape through the DocumentClient. */
function currentOf(item: Record<string, AttributeValue> | undefined): StoredCounter | undefined {
  return item === undefined ? undefined : storedCounter.parse(unmarshall(item));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
