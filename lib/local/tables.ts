import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import type { TableSchema } from '../../functions/counter/table.ts';

/** Creates a table from the stack's schema unless it exists, and waits until it is active. */
export async function ensureTable(
  client: DynamoDBClient,
  name: string,
  schema: TableSchema,
): Promise<{ streamArn?: string | undefined }> {
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    return { streamArn: Table?.LatestStreamArn };
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
  const keys = [schema.partitionKey, ...(schema.sortKey === undefined ? [] : [schema.sortKey])];
  const attributes = new Map(keys.map((key) => [key.name, key.type]));
  for (const index of schema.indexes) {
    attributes.set(index.partitionKey.name, index.partitionKey.type);
    attributes.set(index.sortKey.name, index.sortKey.type);
  }
  const { TableDescription } = await client.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [...attributes].map(([AttributeName, AttributeType]) => ({
        AttributeName,
        AttributeType,
      })),
      KeySchema: [
        { AttributeName: schema.partitionKey.name, KeyType: 'HASH' },
        ...(schema.sortKey === undefined
          ? []
          : [{ AttributeName: schema.sortKey.name, KeyType: 'RANGE' as const }]),
      ],
      ...(schema.indexes.length === 0
        ? {}
        : {
            GlobalSecondaryIndexes: schema.indexes.map((index) => ({
              IndexName: index.name,
              KeySchema: [
                { AttributeName: index.partitionKey.name, KeyType: 'HASH' as const },
                { AttributeName: index.sortKey.name, KeyType: 'RANGE' as const },
              ],
              Projection: { ProjectionType: index.projection },
            })),
          }),
      ...(schema.stream === undefined
        ? {}
        : { StreamSpecification: { StreamEnabled: true, StreamViewType: schema.stream } }),
    }),
  );
  for (let i = 0; i < 100; i++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    if (Table?.TableStatus === 'ACTIVE') break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (schema.ttlAttribute !== undefined) {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: name,
        TimeToLiveSpecification: { AttributeName: schema.ttlAttribute, Enabled: true },
      }),
    );
  }
  return { streamArn: TableDescription?.LatestStreamArn };
}
