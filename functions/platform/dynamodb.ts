import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { StandardRetryStrategy } from '@smithy/core/retry';
import type { RetryErrorInfo, RetryStrategyV2, StandardRetryToken } from '@smithy/types';
import { optionalEnv } from './env.ts';
import { traceDynamoDbCalls } from './tracing.ts';

/**
 * Retries only errors that certainly applied nothing: throttling. A request whose answer was lost (a
 * reset connection, a timeout, a DynamoDB 500) may have been applied, and sending an `ADD` again
 * would count it twice; such a failure goes back to the caller, who can retry safely with an
 * Idempotency-Key.
 */
export class ThrottlingOnlyRetryStrategy implements RetryStrategyV2 {
  private readonly standard: StandardRetryStrategy;

  constructor(maxAttempts: number) {
    this.standard = new StandardRetryStrategy(maxAttempts);
  }

  acquireInitialRetryToken(scope: string): Promise<StandardRetryToken> {
    return this.standard.acquireInitialRetryToken(scope);
  }

  refreshRetryTokenForRetry(
    token: StandardRetryToken,
    errorInfo: RetryErrorInfo,
  ): Promise<StandardRetryToken> {
    if (errorInfo.errorType !== 'THROTTLING') {
      return Promise.reject(new Error('not retried: the request may have been applied'));
    }
    return this.standard.refreshRetryTokenForRetry(token, errorInfo);
  }

  recordSuccess(token: StandardRetryToken): void {
    this.standard.recordSuccess(token);
  }
}

/**
 * A client created once per execution environment, so warm invocations reuse its connections.
 * DYNAMODB_ENDPOINT is set only by the local server (or a developer pointing at DynamoDB Local); on
 * Lambda the SDK finds the regional endpoint itself.
 *
 * `retry: 'throttling-only'` is for writes that are not idempotent (ADD, and SET, which grows the
 * version); reads and conditional or transactional writes keep the SDK's standard retries.
 */
export function createDocumentClient(
  retry: 'standard' | 'throttling-only' = 'standard',
): DynamoDBDocumentClient {
  const endpoint = optionalEnv('DYNAMODB_ENDPOINT');
  const maxAttempts = Number(optionalEnv('DYNAMODB_MAX_ATTEMPTS') ?? 3);
  const client = new DynamoDBClient({
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(retry === 'standard'
      ? { maxAttempts }
      : { retryStrategy: new ThrottlingOnlyRetryStrategy(maxAttempts) }),
  });
  traceDynamoDbCalls(client); // X-Ray subsegments, only on a traced function
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

const shared = new Map<'standard' | 'throttling-only', DynamoDBDocumentClient>();

/** The module-wide client of each kind, created on first use (at cold start: handlers call it at import). */
export function documentClient(retry: 'standard' | 'throttling-only' = 'standard'): DynamoDBDocumentClient {
  let client = shared.get(retry);
  if (client === undefined) {
    client = createDocumentClient(retry);
    shared.set(retry, client);
  }
  return client;
}
