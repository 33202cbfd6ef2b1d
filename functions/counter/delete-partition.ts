import { BatchWriteCommand, type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { retryLeftovers } from '../platform/retry.ts';

/** BatchWriteItems of one purge in flight at once. */
const PURGE_CONCURRENCY = 8;
/** The most requests one BatchWriteItem takes. */
const BATCH_WRITE_ITEMS = 25;
/** Tries again what a BatchWriteItem left unprocessed, this many times at most. */
const UNPROCESSED_RETRIES = 8;

export interface Partition {
  table: string;
  partitionKey: string;
  sortKey: string;
  value: string;
}

/** What a deletion makes of the items it deleted: by default, how many there were. */
export interface Counting {
  /** Attributes read beside the keys for `count`. */
  read: string[];
  count: (item: Record<string, unknown>) => number;
}

const ONE_EACH: Counting = { read: [], count: () => 1 };

/**
 * Deletes every item under a partition key (the history of a deleted counter, its rollups), and
 * answers what `counting` makes of them.
 */
export async function deletePartition(
  client: DynamoDBDocumentClient,
  partition: Partition,
  counting: Counting = ONE_EACH,
): Promise<number> {
  const { table, partitionKey, sortKey, value } = partition;
  let removed = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await client.send(
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
    const items = page.Items ?? [];
    await deleteKeys(
      client,
      table,
      items.map((item) => ({ [partitionKey]: item[partitionKey], [sortKey]: item[sortKey] })),
    );
    for (const item of items) removed += counting.count(item);
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  return removed;
}

/**
 * A long history is thousands of 25-item batches: several go out at once, so a purge fits in the
 * consumer's timeout (and one that does not is retried, resuming with what is left).
 */
async function deleteKeys(
  client: DynamoDBDocumentClient,
  table: string,
  keys: Record<string, unknown>[],
): Promise<void> {
  const batches: Record<string, unknown>[][] = [];
  for (let k = 0; k < keys.length; k += BATCH_WRITE_ITEMS) batches.push(keys.slice(k, k + BATCH_WRITE_ITEMS));
  for (let k = 0; k < batches.length; k += PURGE_CONCURRENCY) {
    await Promise.all(
      batches.slice(k, k + PURGE_CONCURRENCY).map((batch) => deleteBatch(client, table, batch)),
    );
  }
}

async function deleteBatch(
  client: DynamoDBDocumentClient,
  table: string,
  keys: Record<string, unknown>[],
): Promise<void> {
  const left = await retryLeftovers(
    keys.map((Key) => ({ DeleteRequest: { Key } })),
    async (requests) => {
      const { UnprocessedItems } = await client.send(
        new BatchWriteCommand({ RequestItems: { [table]: requests } }),
      );
      return (UnprocessedItems?.[table] ?? []).flatMap((request) =>
        request.DeleteRequest?.Key === undefined
          ? []
          : [{ DeleteRequest: { Key: request.DeleteRequest.Key } }],
      );
    },
    { retries: UNPROCESSED_RETRIES, baseMs: 25, capMs: 1_000 },
  );
  if (left.length > 0) {
    throw new Error(`BatchWrite left deletions unprocessed after ${UNPROCESSED_RETRIES} retries`);
  }
}
