import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { HistoryStore } from './history-store.ts';
import type { HistoryEntry } from './schema.ts';
import { INTERVALS, type Interval, type RollupChange, rollupOf } from './series.ts';
import {
  EXPIRES_AT,
  HISTORY_PARTITION_KEY,
  HISTORY_SORT_KEY,
  ROLLUPS_PARTITION_KEY,
  ROLLUPS_SORT_KEY,
  seriesKey,
} from './table.ts';

/** BatchWriteItems of one purge in flight at once. */
const PURGE_CONCURRENCY = 8;

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

  async record(key: string, entry: HistoryEntry): Promise<'written' | 'duplicate'> {
    const days = this.options.retentionDays;
    const expiresAt =
      days === undefined
        ? undefined
        : Math.floor(Date.parse(entry.created_at) / 1000) + Math.round(days * 86_400);
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tables.history,
          Item: {
            [HISTORY_PARTITION_KEY]: key,
            ...entry,
            ...(expiresAt === undefined ? {} : { [EXPIRES_AT]: expiresAt }),
          },
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
            TableName: this.tables.rollups,
            Key: { [ROLLUPS_PARTITION_KEY]: seriesKey(key, interval), [ROLLUPS_SORT_KEY]: start },
            // The minute buckets' first and last versions double as an index on time for since/until.
            UpdateExpression:
              'ADD #delta :delta, #count :count SET #value = :value, #last = :last, #first = if_not_exists(#first, :first)',
            // Versions reach a bucket in order, so one number says which changes it already holds.
            ConditionExpression: 'attribute_not_exists(#last) OR #last < :first',
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

  async purge(key: string): Promise<number> {
    const removed = await this.deleteAllUnder(
      this.tables.history,
      HISTORY_PARTITION_KEY,
      HISTORY_SORT_KEY,
      key,
    );
    for (const interval of INTERVALS) {
      await this.deleteAllUnder(
        this.tables.rollups,
        ROLLUPS_PARTITION_KEY,
        ROLLUPS_SORT_KEY,
        seriesKey(key, interval),
      );
    }
    return removed;
  }

  private async deleteAllUnder(
    table: string,
    partitionKey: string,
    sortKey: string,
    value: string,
  ): Promise<number> {
    let removed = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': partitionKey, '#sk': sortKey },
          ExpressionAttributeValues: { ':pk': value },
          ProjectionExpression: '#pk, #sk',
          // Items written moments ago in the same batch must be seen, or they would outlive the purge.
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      const keys = page.Items ?? [];
      // A long history is thousands of 25-item batches: several go out at once, so a purge fits in
      // the consumer's timeout (and one that does not is retried, resuming with what is left).
      const batches: Record<string, unknown>[][] = [];
      for (let k = 0; k < keys.length; k += 25) batches.push(keys.slice(k, k + 25));
      for (let k = 0; k < batches.length; k += PURGE_CONCURRENCY) {
        await Promise.all(
          batches.slice(k, k + PURGE_CONCURRENCY).map((batch) => this.deleteAll(table, batch)),
        );
      }
      removed += keys.length;
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
