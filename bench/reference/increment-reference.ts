import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2WithIAMAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/**
 * The benchmarks' yardstick for increment-counter: a plain Lambda handler that sends the same
 * DynamoDB request a plain increment sends, with nothing else: no middy, no zod, no Powertools, no
 * validation, no error mapping. What the real handler costs beyond this is the price of those.
 *
 * Deliberately self-contained (nothing from functions/), so its bundle holds only the SDK.
 */
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const table = process.env.COUNTERS_TABLE;
const endpoint = process.env.DYNAMODB_ENDPOINT;
const client = DynamoDBDocumentClient.from(
  new DynamoDBClient(endpoint === undefined || endpoint === '' ? {} : { endpoint }),
);

export async function handler(
  event: APIGatewayProxyEventV2WithIAMAuthorizer,
): Promise<APIGatewayProxyStructuredResultV2> {
  const name = event.pathParameters?.name ?? 'default';
  const body: { by?: unknown } = event.body === undefined ? {} : JSON.parse(event.body);
  const by = Number(body.by ?? 1);
  const now = new Date().toISOString();
  const bound = by > 0 ? { ':bound': MAX_SAFE - by } : by < 0 ? { ':bound': -MAX_SAFE - by } : {};
  const { Attributes } = await client.send(
    new UpdateCommand({
      TableName: table,
      Key: { name },
      // The same expression, condition and names as functions/counter/dynamodb-repository.ts.
      UpdateExpression:
        'ADD #value :by, #version :one SET #created = if_not_exists(#created, :now), #updated = :now, ' +
        '#op = :op, #actor = :actor, #incarnation = if_not_exists(#incarnation, :incarnation), ' +
        '#kind = if_not_exists(#kind, :kind)',
      ...(by === 0
        ? {}
        : {
            ConditionExpression:
              by > 0
                ? '(attribute_not_exists(#value) OR #value <= :bound)'
                : '(attribute_not_exists(#value) OR #value >= :bound)',
          }),
      ExpressionAttributeNames: {
        '#value': 'value',
        '#version': 'version',
        '#created': 'created_at',
        '#updated': 'updated_at',
        '#op': 'op',
        '#actor': 'actor',
        '#incarnation': 'incarnation',
        '#kind': 'kind',
      },
      ExpressionAttributeValues: {
        ':by': by,
        ':one': 1,
        ':now': now,
        ':op': 'increment',
        ':actor': event.requestContext.authorizer.iam.userArn,
        ':incarnation': randomUUID(),
        ':kind': 'counter',
        ...bound,
      },
      ReturnValues: 'ALL_NEW',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    }),
  );
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      name,
      value: Attributes?.value,
      version: Attributes?.version,
      created_at: Attributes?.created_at,
      updated_at: Attributes?.updated_at,
    }),
  };
}
