import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod/mini';
import {
  type NumberedChange,
  numberChanges,
  type SequencerState,
  type ShardChange,
  type ShardSource,
} from './history.ts';
import { decodePage, decodeSources, encodePage, encodeSources } from './history-page.ts';
import type { HistoryStore, SequenceOutcome } from './history-store.ts';
import type { HistoryEntry } from './schema.ts';
import { bucketsOf, INTERVALS, type Interval, type RollupChange, rollupOf } from './series.ts';
import {
  EXPIRES_AT,
  HISTORY_PAGE_ENTRIES,
  HISTORY_PAGE_FIRST_KEY,
  HISTORY_PARTITION_KEY,
  HISTORY_SORT_KEY,
  ROLLUPS_PARTITION_KEY,
  ROLLUPS_SORT_KEY,
  seriesKey,
} from './table.ts';

/** BatchWriteItems of one purge in flight at once. */
const PURGE_CONCURRENCY = 8;

/**
 * Rollup updates in one step of a sharded counter's history: TransactWriteItems takes 100 items, two
 * of which are the sequencer's step and the page of entries.
 */
const ROLLUPS_PER_STEP = 98;

/** The sequencer item as stored; a deletion's tombstone holds `purged` alone. */
const sequencerItem = z.object({
  last_version: z.optional(z.number()),
  value: z.optional(z.number()),
  absorbed: z.optional(z.record(z.string(), z.number())),
  purged: z.optional(z.boolean()),
});

/** The sequencer's place in a sharded counter's history: before version 1, so no page reads it. */
const SEQUENCER_VERSION = 0;

/** How long a deleted sharded counter's mark outlives it: past the stream's 24 hours of retention. */
const TOMBSTONE_SECONDS = 2 * 86_400;

export interface HistoryStoreOptions {
  /** Raw history entries expire this many days after their change; undefined keeps them. */
  retentionDays?: number | undefined;
}

export class DynamoHistoryStore implements HistoryStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tables: { history: string; rollups: string },
    private readonly options: HistoryStoreOptions = {},
  ) {}

  /** The expiry attribute of an entry changed at `createdAt`, when a retention is configured. */
  private expiry(createdAt: string): Record<string, number> {
    const days = this.options.retentionDays;
    if (days === undefined) return {};
    return { [EXPIRES_AT]: Math.floor(Date.parse(createdAt) / 1000) + Math.round(days * 86_400) };
  }

  /** An entry as the history table holds it, with its expiry when a retention is configured. */
  private entryItem(key: string, entry: HistoryEntry): Record<string, unknown> {
    return { [HISTORY_PARTITION_KEY]: key, ...entry, ...this.expiry(entry.created_at) };
  }

  /**
   * A step's entries of a sharded counter as one compact item (history-page.ts), under the version of
   * its last: about 2 KB for 100 changes instead of 100 items, so its history keeps up with the shards
   * (docs/sharding.md). It expires with its last entry, so no entry leaves before its retention.
   */
  private pageItem(key: string, numbered: readonly NumberedChange[]): Record<string, unknown> {
    const entries = numbered.map(({ entry }) => entry);
    const last = entries.at(-1);
    if (last === undefined) throw new Error('a history page holds at least one entry');
    return {
      [HISTORY_PARTITION_KEY]: key,
      [HISTORY_SORT_KEY]: last.version,
      ...encodePage(entries),
      ...encodeSources(numbered.map(({ source }) => source)),
      ...this.expiry(last.created_at),
    };
  }

  async record(key: string, entry: HistoryEntry): Promise<'written' | 'duplicate'> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tables.history,
          Item: this.entryItem(key, entry),
          ConditionExpression: 'attribute_not_exists(#version)',
          ExpressionAttributeNames: { '#version': HISTORY_SORT_KEY },
        }),
      );
      return 'written';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'duplicate';
      throw error;
    }
  }

  async rollUp(key: string, interval: Interval, start: string, changes: RollupChange[]): Promise<void> {
    let absorbed = 0;
    for (let attempt = 0; attempt < 5; attempt++) {
      const rollup = rollupOf(changes, absorbed);
      if (rollup === undefined) return;
      try {
        await this.client.send(
          new UpdateCommand({
            ...this.rollupUpdate(key, interval, start, rollup),
            // Versions reach a bucket in order, so one number says which changes it already holds.
            ConditionExpression: 'attribute_not_exists(#last) OR #last < :first',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        return;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        // A replay: absorb only the changes after the last one the bucket already holds.
        const last = Number(error.Item?.last_version?.N ?? 0);
        if (last >= rollup.lastVersion) return;
        absorbed = last;
      }
    }
    throw new Error(`rollup ${seriesKey(key, interval)} ${start} kept changing under the consumer`);
  }

  async sequence(key: string, changes: ShardChange[]): Promise<SequenceOutcome> {
    let written = 0;
    // The entries this call wrote, by source: the rest were written before (a batch delivered again).
    const numbered = new Map<string, HistoryEntry>();
    // Another shard's batch may be numbering the same counter's changes at the same moment: the loser
    // of each step reads again and numbers after the winner.
    for (let attempt = 0; attempt < 20; attempt++) {
      const state = await this.sequencer(key);
      const { entries } = numberChanges(state, key, changes);
      if (entries.length === 0) return this.sequenced(key, changes, numbered, written, state);
      let last = state?.lastVersion;
      let raced = false;
      for (const chunk of steps(entries)) {
        const end = chunk.at(-1);
        if (end === undefined || raced) break;
        try {
          await this.client.send(
            new TransactWriteCommand({
              TransactItems: [
                this.advance(key, last, end.entry.version, end.entry.value, end.absorbed),
                { Put: { TableName: this.tables.history, Item: this.pageItem(key, chunk) } },
                ...this.rollupUpdates(
                  key,
                  chunk.map(({ entry }) => entry),
                ),
              ],
            }),
          );
          written += chunk.length;
          for (const { entry, source } of chunk) numbered.set(sourceKey(source), entry);
          last = end.entry.version;
        } catch (error) {
          if (!(error instanceof TransactionCanceledException)) throw error;
          // Throttled: fail the batch, which Lambda retries later, rather than spin on a busy table.
          if (error.CancellationReasons?.some((reason) => reason.Code === 'ThrottlingError')) throw error;
          raced = true;
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * 2 ** Math.min(attempt, 6)));
        }
      }
      if (!raced) return this.sequenced(key, changes, numbered, written, state);
    }
    throw new Error(`history of ${key}: its sequencer kept changing under the consumer`);
  }

  /** The outcome of a sequence: what it wrote, and the entries the changes it did not write were given before. */
  private async sequenced(
    key: string,
    changes: readonly ShardChange[],
    numbered: ReadonlyMap<string, HistoryEntry>,
    written: number,
    state: SequencerState | undefined,
  ): Promise<SequenceOutcome> {
    const earlier = changes.filter((change) => !numbered.has(sourceKey(change)));
    // A deleted counter's history is gone, and with it what its changes were given.
    const found =
      earlier.length === 0 || state?.purged === true ? new Map() : await this.findSequenced(key, earlier);
    return {
      written,
      duplicates: changes.length - written,
      entries: changes.map((change) => numbered.get(sourceKey(change)) ?? found.get(sourceKey(change))),
    };
  }

  /**
   * The entries that shard changes were given when they were recorded before, read from the history's
   * pages, newest first, until each is found or shown absent: a shard's changes reach the history in
   * its order, so once a page starts at or before a sought change of that shard, no older page holds
   * it. A batch is delivered again moments after its first delivery, so this reads a page or a few.
   */
  private async findSequenced(
    key: string,
    wanted: readonly ShardSource[],
  ): Promise<Map<string, HistoryEntry>> {
    const found = new Map<string, HistoryEntry>();
    const open = new Map(wanted.map((source) => [sourceKey(source), source]));
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tables.history,
          KeyConditionExpression: '#counter = :key AND #version > :sequencer',
          ExpressionAttributeNames: { '#counter': HISTORY_PARTITION_KEY, '#version': HISTORY_SORT_KEY },
          ExpressionAttributeValues: { ':key': key, ':sequencer': SEQUENCER_VERSION },
          ScanIndexForward: false,
          ConsistentRead: true,
          Limit: 10,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) {
        const entries = decodePage(item);
        const sources = decodeSources(item, entries.length) ?? [];
        for (const [i, source] of sources.entries()) {
          const entry = entries[i];
          if (entry === undefined || !open.has(sourceKey(source))) continue;
          found.set(sourceKey(source), entry);
          open.delete(sourceKey(source));
        }
        for (const [k, source] of open) {
          const first = sources.find((candidate) => candidate.shard === source.shard);
          if (first !== undefined && first.shardVersion <= source.shardVersion) open.delete(k);
        }
        if (open.size === 0) return found;
      }
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return found;
  }

  private async sequencer(key: string): Promise<SequencerState | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tables.history,
        Key: { [HISTORY_PARTITION_KEY]: key, [HISTORY_SORT_KEY]: SEQUENCER_VERSION },
        ConsistentRead: true,
      }),
    );
    if (Item === undefined) return undefined;
    const item = sequencerItem.parse(Item);
    return {
      lastVersion: item.last_version ?? 0,
      value: item.value ?? 0,
      absorbed: item.absorbed ?? {},
      purged: item.purged === true,
    };
  }

  /** The sequencer's step from `from` (undefined: not yet there) to `to`: the condition that numbers each change once. */
  private advance(
    key: string,
    from: number | undefined,
    to: number,
    value: number,
    absorbed: Record<string, number>,
  ) {
    return {
      Update: {
        TableName: this.tables.history,
        Key: { [HISTORY_PARTITION_KEY]: key, [HISTORY_SORT_KEY]: SEQUENCER_VERSION },
        UpdateExpression: 'SET #last = :to, #value = :value, #absorbed = :absorbed',
        ConditionExpression:
          from === undefined
            ? 'attribute_not_exists(#last)'
            : '#last = :from AND attribute_not_exists(#purged)',
        ExpressionAttributeNames: {
          '#last': 'last_version',
          '#value': 'value',
          '#absorbed': 'absorbed',
          ...(from === undefined ? {} : { '#purged': 'purged' }),
        },
        ExpressionAttributeValues: {
          ':to': to,
          ':value': value,
          ':absorbed': absorbed,
          ...(from === undefined ? {} : { ':from': from }),
        },
      },
    };
  }

  /**
   * What one bucket gains: deltas and counts added, the value after its last change, and the versions
   * it holds (the minute buckets' first and last versions double as an index on time for since/until).
   */
  private rollupUpdate(
    key: string,
    interval: Interval,
    start: string,
    rollup: NonNullable<ReturnType<typeof rollupOf>>,
  ) {
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

  /** Unconditional rollup updates: inside the sequencer's transaction, which already makes them happen once. */
  private rollupUpdates(key: string, entries: readonly HistoryEntry[]) {
    return bucketsOf(entries).flatMap((bucket) => {
      const rollup = rollupOf(bucket.changes);
      if (rollup === undefined) return [];
      return [{ Update: this.rollupUpdate(key, bucket.interval, bucket.start, rollup) }];
    });
  }

  async purge(key: string, options: { sharded?: boolean } = {}): Promise<number> {
    const removed = await this.deleteAllUnder(
      this.tables.history,
      HISTORY_PARTITION_KEY,
      HISTORY_SORT_KEY,
      key,
      // A page's first version too, to count the entries it held.
      {
        read: [HISTORY_PAGE_FIRST_KEY],
        count: (item) => entriesIn(item[HISTORY_SORT_KEY], item[HISTORY_PAGE_FIRST_KEY]),
      },
    );
    for (const interval of INTERVALS) {
      await this.deleteAllUnder(
        this.tables.rollups,
        ROLLUPS_PARTITION_KEY,
        ROLLUPS_SORT_KEY,
        seriesKey(key, interval),
      );
    }
    if (options.sharded === true) {
      await this.client.send(
        new PutCommand({
          TableName: this.tables.history,
          Item: {
            [HISTORY_PARTITION_KEY]: key,
            [HISTORY_SORT_KEY]: SEQUENCER_VERSION,
            purged: true,
            [EXPIRES_AT]: Math.floor(Date.now() / 1000) + TOMBSTONE_SECONDS,
          },
        }),
      );
    }
    return removed;
  }

  /**
   * Deletes every item under a partition key; answers what `count` makes of them (by default, how
   * many), reading the attributes `read` names beside the keys for it.
   */
  private async deleteAllUnder(
    table: string,
    partitionKey: string,
    sortKey: string,
    value: string,
    counting: { read: string[]; count: (item: Record<string, unknown>) => number } = {
      read: [],
      count: () => 1,
    },
  ): Promise<number> {
    let removed = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: {
            '#pk': partitionKey,
            '#sk': sortKey,
            ...Object.fromEntries(counting.read.map((name, i) => [`#read${i}`, name])),
          },
          ExpressionAttributeValues: { ':pk': value },
          ProjectionExpression: ['#pk', '#sk', ...counting.read.map((_, i) => `#read${i}`)].join(', '),
          // Items written moments ago in the same batch must be seen, or they would outlive the purge.
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      const keys = page.Items ?? [];
      // A long history is thousands of 25-item batches: several go out at once, so a purge fits in
      // the consumer's timeout (and one that does not is retried, resuming with what is left).
      const batches: Record<string, unknown>[][] = [];
      for (let k = 0; k < keys.length; k += 25) {
        batches.push(
          keys
            .slice(k, k + 25)
            .map((key) => ({ [partitionKey]: key[partitionKey], [sortKey]: key[sortKey] })),
        );
      }
      for (let k = 0; k < batches.length; k += PURGE_CONCURRENCY) {
        await Promise.all(
          batches.slice(k, k + PURGE_CONCURRENCY).map((batch) => this.deleteAll(table, batch)),
        );
      }
      for (const item of keys) removed += counting.count(item);
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return removed;
  }

  private async deleteAll(table: string, keys: Record<string, unknown>[]): Promise<void> {
    let requests = keys.map((Key) => ({ DeleteRequest: { Key } }));
    for (let attempt = 0; requests.length > 0; attempt++) {
      if (attempt > 8) throw new Error('BatchWrite left deletions unprocessed after 8 retries');
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt)));
      const { UnprocessedItems } = await this.client.send(
        new BatchWriteCommand({ RequestItems: { [table]: requests } }),
      );
      requests = (UnprocessedItems?.[table] ?? []).flatMap((request) =>
        request.DeleteRequest?.Key === undefined
          ? []
          : [{ DeleteRequest: { Key: request.DeleteRequest.Key } }],
      );
    }
  }
}

function sourceKey(source: ShardSource): string {
  return `${source.shard}:${source.shardVersion}`;
}

/**
 * A sharded counter's numbered changes cut into the steps of its sequencer: each at most
 * HISTORY_PAGE_ENTRIES entries (one page) whose rollups fit the step's transaction.
 */
function steps<T extends { entry: HistoryEntry }>(numbered: readonly T[]): T[][] {
  const cut: T[][] = [];
  let step: T[] = [];
  for (const change of numbered) {
    const grown = [...step, change];
    const fits =
      grown.length <= HISTORY_PAGE_ENTRIES &&
      bucketsOf(grown.map(({ entry }) => entry)).length <= ROLLUPS_PER_STEP;
    if (fits || step.length === 0) {
      step = grown;
    } else {
      cut.push(step);
      step = [change];
    }
  }
  if (step.length > 0) cut.push(step);
  return cut;
}

/**
 * How many entries a history item held: none for a sharded counter's sequencer (version 0), a page's,
 * or one.
 */
function entriesIn(version: unknown, firstVersion: unknown): number {
  if (version === SEQUENCER_VERSION) return 0;
  if (typeof version === 'number' && typeof firstVersion === 'number') return version - firstVersion + 1;
  return 1;
}
