import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2WithIAMAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/**
 * The yardstick for get-counter: the same consistent GetItem and nothing else (see
 * increment-reference.ts for why it is self-contained).
 */
const table = process.env.COUNTERS_TABLE;
const endpoint = process.env.DYNAMODB_ENDPOINT;
const client = DynamoDBDocumentClient.from(
  new DynamoDBClient(endpoint === undefined || endpoint === '' ? {} : { endpoint }),
);

export async function handler(
  event: APIGatewayProxyEventV2WithIAMAuthorizer,
): Promise<APIGatewayProxyStructuredResultV2> {
  const name = event.pathParameters?.name ?? 'default';
  const { Item } = await client.send(
    new GetCommand({ TableName: table, Key: { name }, ConsistentRead: true }),
  );
  if (Item === undefined) return { statusCode: 404 };
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json', etag: `"${String(Item.version)}"` },
    body: JSON.stringify({
      name,
      value: Item.value,
      version: Item.version,
      created_at: Item.created_at,
      updated_at: Item.updated_at,
    }),
  };
}
