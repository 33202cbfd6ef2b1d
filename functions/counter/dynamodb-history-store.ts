import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import type { HistoryStore } from './history-store.ts';
import type { HistoryEntry } from './schema.ts';
import { HISTORY_PARTITION_KEY, HISTORY_SORT_KEY } from './table.ts';

export class DynamoHistoryStore implements HistoryStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async record(key: string, entry: HistoryEntry): Promise<'written' | 'duplicate'> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.table,
          Item: { [HISTORY_PARTITION_KEY]: key, ...entry },
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

  async purge(key: string): Promise<number> {
    let removed = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: '#counter = :counter',
          ExpressionAttributeNames: { '#counter': HISTORY_PARTITION_KEY, '#version': HISTORY_SORT_KEY },
          ExpressionAttributeValues: { ':counter': key },
          ProjectionExpression: '#counter, #version',
          // Entries written moments ago in the same batch must be seen, or they would outlive the purge.
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      const keys = page.Items ?? [];
      for (let i = 0; i < keys.length; i += 25) await this.deleteAll(keys.slice(i, i + 25));
      removed += keys.length;
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return removed;
  }

  private async deleteAll(keys: Record<string, unknown>[]): Promise<void> {
    let requests = keys.map((Key) => ({ DeleteRequest: { Key } }));
    for (let attempt = 0; requests.length > 0; attempt++) {
      if (attempt > 8) throw new Error('BatchWrite left deletions unprocessed after 8 retries');
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt)));
      const { UnprocessedItems } = await this.client.send(
        new BatchWriteCommand({ RequestItems: { [this.table]: requests } }),
      );
      requests = (UnprocessedItems?.[this.table] ?? []).flatMap((request) =>
        request.DeleteRequest?.Key === undefined
          ? []
          : [{ DeleteRequest: { Key: request.DeleteRequest.Key } }],
      );
    }
  }
}
