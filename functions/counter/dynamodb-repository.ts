import {
  type AttributeValue,
  ConditionalCheckFailedException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactGetCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import {
  CounterBusyError,
  CounterOutOfRangeError,
  describeIncrement,
  ShardLayoutError,
  shardBound,
  VersionMismatchError,
} from './errors.ts';
import { decodePage } from './history-page.ts';
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
  type StoredShard,
  seriesBucket,
  storedCounter,
  storedShard,
} from './schema.ts';
import { bucketStart, type Interval, type SeriesBucket } from './series.ts';
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
  shardKey,
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

/**
 * An increment of shard 1..N-1 of a sharded counter (shard 0 is the counter's own item and takes
 * counterUpdate): the same atomic ADD of value and version, and who did it, for the stream.
 */
function shardIncrement(input: ChangeInput & { by: number }): CounterUpdate {
  return {
    UpdateExpression: 'ADD #value :by, #version :one SET #updated = :now, #op = :op, #actor = :actor',
    ExpressionAttributeNames: {
      '#value': 'value',
      '#version': 'version',
      '#updated': 'updated_at',
      '#op': 'op',
      '#actor': 'actor',
    },
    ExpressionAttributeValues: {
      ':by': input.by,
      ':one': 1,
      ':now': input.now,
      ':op': 'increment',
      ':actor': input.actor,
    },
  };
}

/** The update of shard `index` for an increment, with the names its conditions use. */
function shardedIncrement(input: ChangeInput & { by: number }, index: number): CounterUpdate {
  const update = index === 0 ? counterUpdate('increment', input) : shardIncrement(input);
  return {
    ...update,
    ExpressionAttributeNames: { ...update.ExpressionAttributeNames, '#incarnation': 'incarnation' },
  };
}

/** The condition that keeps an increment of a shard within its share of the range (errors.ts shardBound). */
function shardRangeCondition(
  by: number,
  shards: number,
): { condition?: string; values: Record<string, number> } {
  const bound = shardBound(shards);
  if (by > 0) return { condition: '#value <= :bound', values: { ':bound': bound - by } };
  if (by < 0) return { condition: '#value >= :bound', values: { ':bound': -bound - by } };
  return { values: {} };
}

/**
 * The writes of one change of a sharded counter: an increment of shard `index`, or the deletion of
 * every shard. Each is conditioned on the counter's incarnation; given the shards' `versions`
 * (If-Match), on every shard's version too, with a ConditionCheck of each shard an increment leaves
 * alone. A plain increment is its one Update; the rest go in a TransactWriteItems (the repository's,
 * or the idempotency store's with the record).
 */
export function shardedWrites(
  table: string,
  counter: { name: string; incarnation: string; shards: number; versions?: readonly number[] | undefined },
  change: { kind: 'increment'; input: ChangeInput & { by: number }; index: number } | { kind: 'delete' },
): Record<string, unknown>[] {
  const exact = counter.versions !== undefined;
  return Array.from({ length: counter.shards }, (_, shard): Record<string, unknown>[] => {
    const key = { name: shardKey(counter.name, shard) };
    const seen = {
      condition: exact ? '#incarnation = :layout AND #version = :seen' : '#incarnation = :layout',
      names: { '#incarnation': 'incarnation', ...(exact ? { '#version': 'version' } : {}) },
      values: { ':layout': counter.incarnation, ...(exact ? { ':seen': counter.versions?.[shard] } : {}) },
    };
    if (change.kind === 'delete') {
      return [
        {
          Delete: {
            TableName: table,
            Key: key,
            ConditionExpression: seen.condition,
            ExpressionAttributeNames: seen.names,
            ExpressionAttributeValues: seen.values,
          },
        },
      ];
    }
    if (shard === change.index) {
      const update = shardedIncrement(change.input, shard);
      const range = shardRangeCondition(change.input.by, counter.shards);
      return [
        {
          Update: {
            TableName: table,
            Key: key,
            ...update,
            ConditionExpression: [
              seen.condition,
              ...(range.condition === undefined ? [] : [range.condition]),
            ].join(' AND '),
            ExpressionAttributeNames: { ...update.ExpressionAttributeNames, ...seen.names },
            ExpressionAttributeValues: {
              ...update.ExpressionAttributeValues,
              ...seen.values,
              ...range.values,
            },
            // The shard as it was, so a refusal by the range can be told from a counter that moved.
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          },
        },
      ];
    }
    if (!exact) return [];
    return [
      {
        ConditionCheck: {
          TableName: table,
          Key: key,
          ConditionExpression: seen.condition,
          ExpressionAttributeNames: seen.names,
          ExpressionAttributeValues: seen.values,
        },
      },
    ];
  }).flat();
}

/** Shard 0 of a counter created with `shards` shards: it holds the value it is created with. */
export function shardedRoot(input: ChangeInput & { value: number }, shards: number): StoredCounter {
  return {
    name: input.name,
    value: input.value,
    version: 1,
    created_at: input.now,
    updated_at: input.now,
    incarnation: input.newIncarnation,
    op: 'set',
    actor: input.actor,
    shards,
  };
}

/**
 * The puts that create a sharded counter: its own item (only if the name is free) and shards
 * 1..N-1 at 0, version 0, which are no change of it (the history ignores them).
 */
export function shardedCreation(table: string, root: StoredCounter) {
  const shards = root.shards ?? 1;
  return [
    {
      Put: {
        TableName: table,
        Item: { ...root, [BY_NAME_PARTITION_KEY]: COUNTER_KIND },
        ConditionExpression: 'attribute_not_exists(#name)',
        ExpressionAttributeNames: { '#name': 'name' },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
      },
    },
    ...Array.from({ length: shards - 1 }, (_, offset) => ({
      Put: {
        TableName: table,
        Item: {
          name: shardKey(root.name, offset + 1),
          counter: root.name,
          shard: offset + 1,
          value: 0,
          version: 0,
          updated_at: root.updated_at,
          incarnation: root.incarnation,
          op: 'increment',
          actor: root.actor,
        },
      },
    })),
  ];
}

/** Which shards a sharded counter has, and of which incarnation: fixed for the counter's life. */
interface Layout {
  shards: number;
  incarnation: string;
}

/** Thrown inside the repository when a change meant for a plain counter finds a sharded one. */
class ShardedCounter extends Error {
  constructor(readonly layout: Layout) {
    super('the counter is sharded');
  }
}

/** Pages a sharded counter's history read asks for first; later reads size themselves by what came. */
const FIRST_PAGES_READ = 4;

/** Layouts remembered per warm function instance, so increments of a hot counter go straight to a shard. */
const MAX_CACHED_LAYOUTS = 1000;

/**
 * DynamoDB-backed counters: every change is a single UpdateItem or DeleteItem, never a read first.
 * A sharded counter (docs/sharding.md) is N items: each increment is one UpdateItem of one of them,
 * and reads sum all N from one TransactGetItems snapshot.
 */
export class DynamoCounterRepository implements CounterRepository {
  private readonly layouts = new Map<string, Layout>();

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
    // A sharded counter this instance has read before: its snapshot holds its own item too.
    const known = this.layouts.get(name);
    if (known !== undefined) return this.snapshot(name, known);
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tables.counters, Key: { name }, ConsistentRead: true }),
    );
    const counter = Item === undefined ? undefined : storedCounter.parse(Item);
    if (counter?.shards === undefined) return counter;
    return this.snapshot(name, this.remember(name, layoutOf(counter)));
  }

  async increment(
    input: ChangeInput & { by: number; readBack?: boolean | undefined },
  ): Promise<StoredCounter | undefined> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const known = this.layouts.get(input.name);
      if (known !== undefined) {
        const result = await this.incrementSharded(input, known);
        if (result !== 'stale') return result;
        // Deleted, or created again: find out what the name is now.
        this.layouts.delete(input.name);
      }
      try {
        return await this.incrementPlain(input);
      } catch (error) {
        if (!(error instanceof ShardedCounter)) throw error;
        this.remember(input.name, error.layout);
      }
    }
    // Deleted and created again under this change three times over.
    throw new CounterBusyError(input.name);
  }

  private async incrementPlain(input: ChangeInput & { by: number }): Promise<StoredCounter> {
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
    const attempted = describeIncrement(input.by);
    return this.change(input, counterUpdate('increment', input), conditions, bound, attempted);
  }

  private remember(name: string, layout: Layout): Layout {
    if (this.layouts.size >= MAX_CACHED_LAYOUTS && !this.layouts.has(name)) {
      const oldest = this.layouts.keys().next().value;
      if (oldest !== undefined) this.layouts.delete(oldest);
    }
    this.layouts.set(name, layout);
    return layout;
  }

  /**
   * A sharded counter as one consistent snapshot of all its items (TransactGetItems is serializable),
   * or undefined if it no longer exists. A name created again with another layout is read afresh.
   */
  private async snapshot(name: string, layout: Layout): Promise<StoredCounter | undefined> {
    for (let attempt = 0; ; attempt++) {
      let responses: ({ Item?: Record<string, unknown> | undefined } | undefined)[];
      try {
        ({ Responses: responses = [] } = await this.client.send(
          new TransactGetCommand({
            TransactItems: Array.from({ length: layout.shards }, (_, index) => ({
              Get: { TableName: this.tables.counters, Key: { name: shardKey(name, index) } },
            })),
          }),
        ));
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        // DynamoDB cancels a TransactGetItems while any of its items is being written, which on a
        // hot counter is most of the time: after one more try, read each shard on its own instead.
        if (attempt >= 1) return this.sumOfShards(name, layout);
        await delay(Math.random() * 10);
        continue;
      }
      const rootItem = responses[0]?.Item;
      if (rootItem === undefined) return undefined;
      const root = storedCounter.parse(rootItem);
      if (root.shards !== layout.shards || root.incarnation !== layout.incarnation) {
        this.layouts.delete(name);
        if (root.shards === undefined) return root;
        layout = this.remember(name, layoutOf(root));
        continue;
      }
      return sumOf(
        root,
        responses.slice(1).map((response) => storedShard.parse(response?.Item)),
      );
    }
  }

  /**
   * A sharded counter summed from one consistent GetItem per shard: each read holds every change
   * acknowledged before it, and none is refused for writes in flight; the sum may combine the shards
   * a few milliseconds apart, as reading any counter under writes does.
   */
  private async sumOfShards(name: string, layout: Layout): Promise<StoredCounter | undefined> {
    const items = await Promise.all(
      Array.from({ length: layout.shards }, (_, index) =>
        this.client
          .send(
            new GetCommand({
              TableName: this.tables.counters,
              Key: { name: shardKey(name, index) },
              ConsistentRead: true,
            }),
          )
          .then(({ Item }) => Item),
      ),
    );
    const [rootItem, ...shardItems] = items;
    if (rootItem === undefined) return undefined;
    const root = storedCounter.parse(rootItem);
    if (root.shards === undefined) return root;
    if (root.shards !== layout.shards) return this.sumOfShards(name, this.remember(name, layoutOf(root)));
    const shards = shardItems.flatMap((item) => (item === undefined ? [] : [storedShard.parse(item)]));
    return sumOf(
      root,
      shards.filter((shard) => shard.incarnation === root.incarnation),
    );
  }

  /**
   * One UpdateItem of one shard, chosen at random, then a snapshot to answer with (which holds this
   * change, and possibly others made meanwhile). With If-Match, the change is conditioned on every
   * shard's version instead, so the answer is exactly the counter this change made.
   */
  private async incrementSharded(
    input: ChangeInput & { by: number; readBack?: boolean | undefined },
    layout: Layout,
  ): Promise<StoredCounter | undefined | 'stale'> {
    if (input.expectedVersion !== undefined) return this.incrementShardedIfMatch(input, layout);
    const index = Math.floor(Math.random() * layout.shards);
    const [write] = shardedWrites(
      this.tables.counters,
      { name: input.name, ...layout },
      { kind: 'increment', input, index },
    );
    try {
      await this.changes.send(new UpdateCommand((write as { Update: UpdateCommandInput }).Update));
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const old = error.Item === undefined ? undefined : unmarshall(error.Item);
      if (old?.incarnation !== layout.incarnation) return 'stale';
      const total = await this.snapshot(input.name, layout);
      throw new CounterOutOfRangeError(
        input.name,
        total?.value ?? 0,
        describeIncrement(input.by),
        layout.shards,
      );
    }
    // The change is made. Reading every shard for the answer is what caps a hot counter's rate (each
    // increment reads all N items), so a caller may decline it (Prefer: return=minimal). And nothing
    // may fail now, or the caller would send the change again: a failed read (throttled, say) answers
    // that the change is applied, unread.
    if (input.readBack === false) return undefined;
    try {
      return await this.snapshot(input.name, layout);
    } catch {
      return undefined;
    }
  }

  private async incrementShardedIfMatch(
    input: ChangeInput & { by: number },
    layout: Layout,
  ): Promise<StoredCounter | 'stale'> {
    const expected = input.expectedVersion ?? 0;
    for (let attempt = 0; attempt < 5; attempt++) {
      const seen = await this.snapshot(input.name, layout);
      if (seen === undefined || seen.shards === undefined) return 'stale';
      if (seen.version !== expected) throw new VersionMismatchError(input.name, expected, seen.version);
      const versions = seen.shardVersions ?? [];
      const index = Math.floor(Math.random() * layout.shards);
      try {
        await this.changes.send(
          new TransactWriteCommand({
            TransactItems: shardedWrites(
              this.tables.counters,
              { name: input.name, ...layout, versions },
              { kind: 'increment', input, index },
            ) as TransactWriteCommandInput['TransactItems'],
          }),
        );
        return {
          ...seen,
          value: seen.value + input.by,
          version: seen.version + 1,
          updated_at: latest(input.now, seen.updated_at),
          op: 'increment',
          actor: input.actor,
          shardVersions: versions.map((version, shard) => (shard === index ? version + 1 : version)),
        };
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        const reason = error.CancellationReasons?.[index];
        const old = reason?.Item === undefined ? undefined : unmarshall(reason.Item);
        // Our shard as seen, so its range condition refused: the only reason that a re-read will not change.
        if (reason?.Code === 'ConditionalCheckFailed' && old?.version === versions[index]) {
          throw new CounterOutOfRangeError(
            input.name,
            seen.value,
            describeIncrement(input.by),
            layout.shards,
          );
        }
        await delay(Math.random() * 10 * 2 ** attempt);
      }
    }
    const now = await this.snapshot(input.name, layout);
    // Still at the version asked for: the attempts only met other transactions.
    if (now?.version === expected) throw new CounterBusyError(input.name);
    throw new VersionMismatchError(input.name, expected, now?.version);
  }

  /** Creates a counter spread over `shards` items, in one transaction: shard 0 holds the value. */
  private async createSharded(
    input: ChangeInput & { value: number },
    shards: number,
  ): Promise<StoredCounter> {
    if (input.expectedVersion !== undefined && input.expectedVersion !== 0) {
      const current = await this.get(input.name);
      throw new VersionMismatchError(input.name, input.expectedVersion, current?.version);
    }
    if (Math.abs(input.value) > shardBound(shards)) {
      throw new CounterOutOfRangeError(input.name, 0, `setting ${input.value}`, shards);
    }
    const root = shardedRoot(input, shards);
    try {
      await this.changes.send(
        new TransactWriteCommand({ TransactItems: shardedCreation(this.tables.counters, root) }),
      );
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const reason = error.CancellationReasons?.[0];
      if (reason?.Code !== 'ConditionalCheckFailed') throw error;
      const current = currentOf(reason.Item);
      if (input.expectedVersion !== undefined && current !== undefined) {
        throw new VersionMismatchError(input.name, input.expectedVersion, current.version);
      }
      throw ShardLayoutError.exists(input.name, current?.shards);
    }
    this.remember(input.name, layoutOf(root));
    return { ...root, shardVersions: [1, ...Array.from({ length: shards - 1 }, () => 0)] };
  }

  /** Deletes a sharded counter and all its shards in one transaction, from a snapshot (If-Match on its total version). */
  private async deleteSharded(
    input: { name: string; expectedVersion?: number | undefined },
    layout: Layout,
  ): Promise<StoredCounter | undefined> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const seen = await this.snapshot(input.name, layout);
      if (seen === undefined) {
        if (input.expectedVersion !== undefined)
          throw new VersionMismatchError(input.name, input.expectedVersion, undefined);
        return undefined;
      }
      if (seen.shards === undefined) return this.delete(input);
      if (input.expectedVersion !== undefined && seen.version !== input.expectedVersion) {
        throw new VersionMismatchError(input.name, input.expectedVersion, seen.version);
      }
      const versions = seen.shardVersions ?? [];
      const ifMatch = input.expectedVersion !== undefined;
      try {
        await this.client.send(
          new TransactWriteCommand({
            TransactItems: shardedWrites(
              this.tables.counters,
              {
                name: input.name,
                incarnation: seen.incarnation,
                shards: layout.shards,
                versions: ifMatch ? versions : undefined,
              },
              { kind: 'delete' },
            ) as TransactWriteCommandInput['TransactItems'],
          }),
        );
        this.layouts.delete(input.name);
        return seen;
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        await delay(Math.random() * 10 * 2 ** attempt);
      }
    }
    const now = await this.snapshot(input.name, layout);
    if (input.expectedVersion === undefined || now?.version === input.expectedVersion) {
      throw new CounterBusyError(input.name);
    }
    throw new VersionMismatchError(input.name, input.expectedVersion, now?.version);
  }

  async set(input: ChangeInput & { value: number; shards?: number | undefined }): Promise<StoredCounter> {
    if (input.shards !== undefined && input.shards > 1) return this.createSharded(input, input.shards);
    try {
      return await this.change(input, counterUpdate('set', input), [], {}, `setting ${input.value}`);
    } catch (error) {
      if (!(error instanceof ShardedCounter)) throw error;
      throw ShardLayoutError.setOfSharded(input.name, error.layout.shards);
    }
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
          // A sharded counter's shards go with it, in one transaction (deleteSharded).
          ConditionExpression: [
            'attribute_not_exists(#shards)',
            ...(expected === undefined ? [] : [expected.expression]),
          ].join(' AND '),
          ExpressionAttributeNames: {
            '#shards': 'shards',
            ...(expected === undefined ? {} : { '#version': 'version' }),
          },
          ...(expected?.values === undefined ? {} : { ExpressionAttributeValues: expected.values }),
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return Attributes === undefined ? undefined : storedCounter.parse(Attributes);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        const current = currentOf(error.Item);
        if (current?.shards !== undefined) return this.deleteSharded(input, layoutOf(current));
        if (input.expectedVersion !== undefined) {
          throw new VersionMismatchError(input.name, input.expectedVersion, current?.version);
        }
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
    // A sharded counter's item holds one shard of it: its total comes from a snapshot of all of them.
    await Promise.all(
      [...found.values()].flatMap((counter) =>
        counter.shards === undefined
          ? []
          : [
              this.snapshot(counter.name, layoutOf(counter)).then((total) => {
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

  private async change(
    input: ChangeInput,
    update: CounterUpdate,
    conditions: string[],
    conditionValues: Record<string, unknown>,
    attempted: string,
  ): Promise<StoredCounter> {
    const expected = versionCondition(input.expectedVersion);
    // A sharded counter's item is one shard of it: changes of a sharded counter take other paths.
    const allConditions = [
      'attribute_not_exists(#shards)',
      ...conditions,
      ...(expected === undefined ? [] : [expected.expression]),
    ];
    try {
      const { Attributes } = await this.changes.send(
        new UpdateCommand({
          TableName: this.tables.counters,
          Key: { name: input.name },
          ...update,
          ExpressionAttributeNames: { ...update.ExpressionAttributeNames, '#shards': 'shards' },
          ConditionExpression: allConditions.join(' AND '),
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
        if (current?.shards !== undefined) throw new ShardedCounter(layoutOf(current));
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

/** A sharded counter from its own item (shard 0) and its other shards: value and version summed. */
function sumOf(root: StoredCounter, shards: readonly StoredShard[]): StoredCounter {
  const versions = [root.version, ...shards.map((shard) => shard.version)];
  return {
    ...root,
    value: shards.reduce((sum, shard) => sum + shard.value, root.value),
    version: versions.reduce((sum, version) => sum + version, 0),
    updated_at: shards.reduce((time, shard) => latest(time, shard.updated_at), root.updated_at),
    shardVersions: versions,
  };
}

/** The later of two ISO 8601 UTC times (which order as strings). */
function latest(a: string, b: string): string {
  return a > b ? a : b;
}

function layoutOf(counter: StoredCounter): Layout {
  return { shards: counter.shards ?? 1, incarnation: counter.incarnation };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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
