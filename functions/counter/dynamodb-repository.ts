import { BatchGetCommand, type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { retryLeftovers } from '../platform/retry.ts';
import { CounterTable, counterOf, explain } from './counter-table.ts';
import { plainChange, plainDeletion, type TransactItem } from './counter-writes.ts';
import { DynamoHistoryStore } from './dynamodb-history-store.ts';
import { CounterBusyError, CounterIsSharded, ShardLayoutError } from './errors.ts';
import type {
  ChangeInput,
  CounterRepository,
  HistoryPage,
  HistoryQuery,
  HistoryReader,
  KeyedAttempt,
  ListQuery,
  Page,
  SeriesQuery,
} from './repository.ts';
import { type BoundChange, type StoredCounter, storedCounter } from './schema.ts';
import type { SeriesBucket } from './series.ts';
import { layoutOf, ShardedCounters } from './sharded-counters.ts';
import { BY_NAME_INDEX, BY_NAME_PARTITION_KEY, BY_NAME_SORT_KEY, COUNTER_KIND } from './table.ts';

/** Tries again what a BatchGetItem left unprocessed, this many times at most. */
const UNPROCESSED_RETRIES = 8;

export interface TableNames {
  counters: string;
  history: string;
  rollups: string;
  /** Keyed changes' records: a delete's answer is written in the delete's own transaction. */
  idempotency?: string | undefined;
}

/**
 * DynamoDB-backed counters: every change is a single UpdateItem or DeleteItem, never a read first,
 * built with its rules by counter-writes.ts and sent by counter-table.ts. A counter found sharded is
 * left to sharded-counters.ts (docs/sharding.md), which this instance then remembers it by. History
 * and series are answered by the store that writes them (dynamodb-history-store.ts).
 */
export class DynamoCounterRepository implements CounterRepository {
  private readonly table: CounterTable;
  private readonly sharded: ShardedCounters;
  private readonly historyStore: HistoryReader;

  /**
   * @param client reads and deletes, with the SDK's standard retries
   * @param changes increments and sets, which must not be sent again after an ambiguous failure
   *   (functions/platform/dynamodb.ts); the same client by default
   */
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tables: TableNames,
    changes: DynamoDBDocumentClient = client,
  ) {
    this.table = new CounterTable(client, changes, tables.counters, () => tables.idempotency);
    this.sharded = new ShardedCounters(this.table);
    this.historyStore = new DynamoHistoryStore(client, tables);
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

  history(query: HistoryQuery): Promise<HistoryPage> {
    return this.historyStore.history(query);
  }

  series(query: SeriesQuery): Promise<Page<SeriesBucket>> {
    return this.historyStore.series(query);
  }

  private async batchGet(names: string[]): Promise<Map<string, StoredCounter>> {
    const found = new Map<string, StoredCounter>();
    const left = await retryLeftovers(
      names.map((name) => ({ name })),
      async (keys) => {
        const { Responses, UnprocessedKeys } = await this.client.send(
          new BatchGetCommand({
            RequestItems: { [this.tables.counters]: { Keys: keys, ConsistentRead: true } },
          }),
        );
        for (const item of Responses?.[this.tables.counters] ?? []) {
          const counter = storedCounter.parse(item);
          found.set(counter.name, counter);
        }
        return (UnprocessedKeys?.[this.tables.counters]?.Keys ?? []).map((key) => ({
          name: String(key.name),
        }));
      },
      { retries: UNPROCESSED_RETRIES, baseMs: 25, capMs: 1_000 },
    );
    if (left.length > 0)
      throw new Error(`BatchGet left keys unprocessed after ${UNPROCESSED_RETRIES} retries`);
    return found;
  }
}
