import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { optionalEnv } from './env.ts';

/**
 * One client per execution environment, created at module load so every warm invocation reuses its
 * connections. DYNAMODB_ENDPOINT is set only by the local server (or a developer pointing at DynamoDB
 * Local); on Lambda the SDK finds the regional endpoint itself.
 */
export function createDocumentClient(): DynamoDBDocumentClient {
  const endpoint = optionalEnv('DYNAMODB_ENDPOINT');
  const client = new DynamoDBClient({
    ...(endpoint === undefined ? {} : { endpoint }),
    maxAttempts: Number(optionalEnv('DYNAMODB_MAX_ATTEMPTS') ?? 3),
  });
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

let shared: DynamoDBDocumentClient | undefined;

/** The module-wide client, created on first use (still at cold start: handlers call it at import). */
export function documentClient(): DynamoDBDocumentClient {
  shared ??= createDocumentClient();
  return shared;
}
