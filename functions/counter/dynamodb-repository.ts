import { randomUUID } from 'node:crypto';
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
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { isTransactionConflict } from '../shared/aws-errors.ts';
import { retryPause } from '../shared/retry.ts';
import {
  CounterIsSharded,
  type Item,
  LayoutChanged,
  type Rule,
  refusalOf,
  ShardShareExceeded,
} from './change-rules.ts';
import {
  type Guarded,
  type Layout,
  plainChange,
  plainDeletion,
  probeUpdate,
  shardedCreation,
  shardedDeletion,
  shardedRoot,
  shardIncrement,
  type TransactItem,
} from './counter-writes.ts';
import {
  AttemptFencedError,
  CounterBusyError,
  CounterNotFoundError,
  CounterOutOfRangeError,
  describeIncrement,
  ShardLayoutError,
  shardBound,
  VersionMismatchError,
} from './errors.ts';
import { isProbeOnly } from './history.ts';
import { decodePage } from './history-page.ts';
import type { Outcome } from './idempotency.ts';
import { sealedAnswer } from './idempotency-table.ts';
import { probeValue } from './keyed-witness.ts';
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
  type StoredShard,
  seriesBucket,
  storedCounter,
  storedShard,
  toCounter,
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
  /** Keyed changes' records: a delete's answer is written in the delete's own transaction. */
  idempotency?: string | undefined;
}

/** Pages a sharded counter's history read asks for first; later reads size themselves by what came. */
const FIRST_PAGES_READ = 4;

/** Layouts remembered per warm function instance, so increments of a hot counter go straight to a shard. */
const MAX_CACHED_LAYOUTS = 1000;

/**
 * Tries of a write that DynamoDB refused because another transaction held its item
 * (TransactionConflict): it changed nothing, so it is tried again after a jittered pause.
 */
const CONFLICT_ATTEMPTS = 8;
/** The back-off between those tries: up to 20 ms, 40, 80 ... 1 s, about 2.5 s in all at most. */
const CONFLICT_BACKOFF = { baseMs: 10, capMs: 1_000 };

/**
 * DynamoDB-backed counters: every change is a single UpdateItem or DeleteItem, never a read first,
 * built with its rules by counter-writes.ts. A sharded counter (docs/sharding.md) is N items: each
 * increment is one UpdateItem of one of them, and reads sum all N from one TransactGetItems snapshot.
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
    const counter = counterOf(Item);
    if (counter?.shards === undefined) return counter;
    return this.snapshot(name, this.remember(name, layoutOf(counter)));
  }

  itemsOf(name: string): string[] {
    const layout = this.layouts.get(name);
    return Array.from({ length: layout?.shards ?? 1 }, (_, index) => shardKey(name, index));
  }

  async fence(items: readonly string[], recordId: string, attempt: string): Promise<void> {
    const probe = probeValue(recordId, attempt, randomUUID());
    await Promise.all(
      items.map((item) =>
        this.client.send(
          new UpdateCommand(probeUpdate(this.tables.counters, item, recordId, attempt, probe)),
        ),
      ),
    );
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
        return await this.update(
          input.name,
          plainChange(this.tables.counters, { ...input, op: 'increment' }),
        );
      } catch (error) {
        if (!(error instanceof CounterIsSharded)) throw error;
        this.remember(input.name, error.layout);
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
      return this.createSharded(input, input.shards);
    }
    try {
      return await this.update(input.name, plainChange(this.tables.counters, { ...input, op: 'set' }));
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
    const known = this.layouts.get(input.name);
    if (known !== undefined && (await this.deleteSharded(input, known)) === 'deleted') return;
    const write = plainDeletion(this.tables.counters, input);
    try {
      if (input.attempt === undefined) await this.client.send(new DeleteCommand(write.request));
      else await this.transact(input.name, [{ Delete: write.request } as TransactItem], input.attempt);
    } catch (error) {
      const refusal = explain(error, write.rules);
      if (!(refusal instanceof CounterIsSharded)) throw refusal;
      // A sharded counter's shards go with it, in one transaction.
      if ((await this.deleteSharded(input, this.remember(input.name, refusal.layout))) === 'stale') {
        throw new CounterBusyError(input.name);
      }
    }
  }

  /** Sends a counter's UpdateItem; a refusal is named by the rule the item as it was (ALL_OLD) broke. */
  private async update(name: string, write: Guarded<UpdateCommandInput>): Promise<StoredCounter> {
    try {
      const { Attributes } = await this.retryingConflicts(name, () =>
        this.changes.send(new UpdateCommand(write.request)),
      );
      return storedCounter.parse(Attributes);
    } catch (error) {
      throw explain(error, write.rules);
    }
  }

  /**
   * A TransactWriteItems of the counter's items, tried again while only other transactions stood in
   * its way. With a keyed attempt, the answer goes in the same transaction (KeyedAttempt.answer) and
   * the record's condition fences the attempt: the change lands with its answer or not at all.
   */
  private async transact(
    name: string,
    items: TransactItem[],
    attempt?: KeyedAttempt | undefined,
    outcome: Outcome = { kind: 'deleted' },
  ): Promise<void> {
    const sealed =
      attempt === undefined
        ? items
        : [
            ...items,
            sealedAnswer(
              this.idempotencyTable(),
              attempt.id,
              attempt.attempt,
              attempt.answer(outcome),
              Date.now(),
            ) as TransactItem,
          ];
    try {
      await this.retryingConflicts(name, () =>
        this.changes.send(new TransactWriteCommand({ TransactItems: sealed })),
      );
    } catch (error) {
      const record = attempt === undefined ? undefined : cancellation(error)?.at(-1);
      if (record?.Code === 'ConditionalCheckFailed') throw new AttemptFencedError();
      throw error;
    }
  }

  /** Runs `send` again, after a jittered pause, while DynamoDB answers that another transaction held the item. */
  private async retryingConflicts<T>(name: string, send: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await send();
      } catch (error) {
        if (!isTransactionConflict(error)) throw error;
        if (attempt >= CONFLICT_ATTEMPTS) throw new CounterBusyError(name);
        await retryPause(attempt, CONFLICT_BACKOFF);
      }
    }
  }

  private idempotencyTable(): string {
    if (this.tables.idempotency === undefined) throw new Error('keyed changes need the idempotency table');
    return this.tables.idempotency;
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
        await retryPause(1);
        continue;
      }
      const root = counterOf(responses[0]?.Item);
      if (root === undefined) return undefined;
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
    const root = counterOf(rootItem);
    if (root === undefined) return undefined;
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
    await input.attempt?.reach([shardKey(input.name, index)]);
    const write = shardIncrement(this.tables.counters, { name: input.name, layout }, input, index);
    try {
      await this.retryingConflicts(input.name, () => this.changes.send(new UpdateCommand(write.request)));
    } catch (error) {
      const refusal = explain(error, write.rules);
      if (refusal instanceof LayoutChanged) return 'stale';
      if (!(refusal instanceof ShardShareExceeded)) throw refusal;
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
    for (let attempt = 0; attempt < CONFLICT_ATTEMPTS; attempt++) {
      if (attempt > 0) await retryPause(attempt);
      const seen = await this.snapshot(input.name, layout);
      if (seen === undefined || seen.shards === undefined) return 'stale';
      if (seen.version !== expected) throw new VersionMismatchError(input.name, expected, seen.version);
      const versions = seen.shardVersions ?? [];
      const index = Math.floor(Math.random() * layout.shards);
      await input.attempt?.reach([shardKey(input.name, index)]);
      const write = shardIncrement(
        this.tables.counters,
        { name: input.name, layout, versions },
        input,
        index,
      );
      // Every shard in its place, so that the reasons of a cancellation name the shards by index.
      const checks = [...write.checks];
      const items = Array.from({ length: layout.shards }, (_, shard) =>
        shard === index ? ({ Update: write.request } as TransactItem) : checks.shift()?.request,
      ).filter((item): item is TransactItem => item !== undefined);
      try {
        await this.transact(input.name, items);
      } catch (error) {
        const refusal = explain(error, write.rules, index);
        if (refusal instanceof ShardShareExceeded) {
          throw new CounterOutOfRangeError(
            input.name,
            seen.value,
            describeIncrement(input.by),
            layout.shards,
          );
        }
        if (refusal instanceof AttemptFencedError || !(error instanceof TransactionCanceledException)) {
          throw refusal;
        }
        // Another change got in since the snapshot: look again.
        continue;
      }
      return {
        ...seen,
        value: seen.value + input.by,
        version: seen.version + 1,
        updated_at: latest(input.now, seen.updated_at),
        op: 'increment',
        actor: input.actor,
        shardVersions: versions.map((version, shard) => (shard === index ? version + 1 : version)),
      };
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
    // A creation is of version 0: any other If-Match is refused with the version there is.
    if (input.expectedVersion !== undefined && input.expectedVersion !== 0) {
      const current = await this.get(input.name);
      throw new VersionMismatchError(input.name, input.expectedVersion, current?.version);
    }
    if (Math.abs(input.value) > shardBound(shards)) {
      throw new CounterOutOfRangeError(input.name, 0, `setting ${input.value}`, shards);
    }
    const root = shardedRoot(input, shards);
    const created = { ...root, shardVersions: [1, ...Array.from({ length: shards - 1 }, () => 0)] };
    const creation = shardedCreation(this.tables.counters, root, input.expectedVersion);
    try {
      await this.transact(input.name, creation.items, input.attempt, {
        kind: 'counter',
        counter: toCounter(created),
      });
    } catch (error) {
      throw explain(error, creation.rules);
    }
    this.remember(input.name, layoutOf(root));
    return created;
  }

  /**
   * Deletes a sharded counter and all its shards in one transaction, from a snapshot (If-Match on its
   * total version). 'stale' when the name no longer holds a sharded counter.
   */
  private async deleteSharded(
    input: { name: string; expectedVersion?: number | undefined; attempt?: KeyedAttempt | undefined },
    layout: Layout,
  ): Promise<'deleted' | 'stale'> {
    for (let attempt = 0; attempt < CONFLICT_ATTEMPTS; attempt++) {
      if (attempt > 0) await retryPause(attempt);
      const seen = await this.snapshot(input.name, layout);
      if (seen === undefined) {
        if (input.expectedVersion !== undefined && input.expectedVersion !== 0) {
          throw new VersionMismatchError(input.name, input.expectedVersion, undefined);
        }
        throw new CounterNotFoundError(input.name);
      }
      if (seen.shards === undefined) return 'stale';
      if (input.expectedVersion !== undefined && seen.version !== input.expectedVersion) {
        throw new VersionMismatchError(input.name, input.expectedVersion, seen.version);
      }
      const deletes = shardedDeletion(this.tables.counters, {
        name: input.name,
        layout: layoutOf(seen),
        versions: input.expectedVersion === undefined ? undefined : seen.shardVersions,
      });
      try {
        await this.transact(input.name, deletes, input.attempt);
        this.layouts.delete(input.name);
        return 'deleted';
      } catch (error) {
        // A shard moved (If-Match) or the layout changed since the snapshot: look again.
        if (!(error instanceof TransactionCanceledException)) throw error;
      }
    }
    const now = await this.snapshot(input.name, layout);
    if (input.expectedVersion === undefined || now?.version === input.expectedVersion) {
      throw new CounterBusyError(input.name);
    }
    throw new VersionMismatchError(input.name, input.expectedVersion, now?.version);
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

/** A counter from a counters-table item; undefined for none, or for an item holding only a recovery's probe. */
function counterOf(item: Record<string, unknown> | undefined): StoredCounter | undefined {
  return item === undefined || isProbeOnly(item) ? undefined : storedCounter.parse(item);
}

/** The reasons DynamoDB gave for cancelling a transaction, if that is what the error is. */
function cancellation(
  error: unknown,
): { Code?: string | undefined; Item?: Record<string, AttributeValue> | undefined }[] | undefined {
  return error instanceof TransactionCanceledException ? (error.CancellationReasons ?? []) : undefined;
}

/**
 * A write refused by its condition, as the rule the item broke (its ALL_OLD image; in a transaction,
 * the item at `position`'s); any other error as it is.
 */
function explain(error: unknown, rules: readonly Rule[], position = 0): unknown {
  const reason = cancellation(error)?.[position];
  const refused =
    error instanceof ConditionalCheckFailedException
      ? { item: error.Item }
      : reason?.Code === 'ConditionalCheckFailed'
        ? { item: reason.Item }
        : undefined;
  if (refused === undefined) return error;
  const item: Item | undefined = refused.item === undefined ? undefined : unmarshall(refused.item);
  return refusalOf(rules, item) ?? error;
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
