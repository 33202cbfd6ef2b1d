import { afterEach, describe, expect, it, vi } from 'vitest';
import { createDocumentClient, ThrottlingOnlyRetryStrategy } from '../../functions/platform/dynamodb.ts';
import { TRACING_VARIABLE } from '../../functions/platform/tracing-switch.ts';

// functions/platform/dynamodb.ts: the service's DynamoDB clients and their retry strategy.
afterEach(() => {
  vi.unstubAllEnvs();
});

describe('ThrottlingOnlyRetryStrategy', () => {
  it('retries a throttled request, which DynamoDB certainly did not apply', async () => {
    const strategy = new ThrottlingOnlyRetryStrategy(3);
    const token = await strategy.acquireInitialRetryToken('dynamodb');

    const retry = await strategy.refreshRetryTokenForRetry(token, { errorType: 'THROTTLING' });

    expect(retry.getRetryCount()).toBe(1);
  });

  for (const errorType of ['TRANSIENT', 'SERVER_ERROR', 'CLIENT_ERROR'] as const) {
    it(`does not retry a ${errorType} failure, which may have been applied`, async () => {
      const strategy = new ThrottlingOnlyRetryStrategy(3);
      const token = await strategy.acquireInitialRetryToken('dynamodb');

      await expect(strategy.refreshRetryTokenForRetry(token, { errorType })).rejects.toThrow(
        /may have been applied/,
      );
    });
  }

  it('stops retrying throttling after the configured attempts', async () => {
    const strategy = new ThrottlingOnlyRetryStrategy(2);
    const token = await strategy.acquireInitialRetryToken('dynamodb');
    const second = await strategy.refreshRetryTokenForRetry(token, { errorType: 'THROTTLING' });

    await expect(strategy.refreshRetryTokenForRetry(second, { errorType: 'THROTTLING' })).rejects.toThrow();
  });
});

describe('createDocumentClient', () => {
  it.each([
    ['a traced function', 'Active', true],
    ['an untraced one', undefined, false],
  ])('instruments the clients of %s', (_, mode, instrumented) => {
    if (mode !== undefined) vi.stubEnv(TRACING_VARIABLE, mode);

    for (const retry of ['standard', 'throttling-only'] as const) {
      const stack = createDocumentClient(retry).middlewareStack.identify();
      expect(
        stack.some((entry) => entry.startsWith('counterXRaySubsegment')),
        retry,
      ).toBe(instrumented);
    }
  });
});
