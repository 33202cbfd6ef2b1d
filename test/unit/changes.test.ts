import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CounterBusyError } from '../../functions/counter/errors.ts';
import { idempotencyId } from '../../functions/counter/idempotency.ts';
import { witness } from '../../functions/counter/keyed-witness.ts';
import type { ChangeDeps } from '../../functions/http/changes.ts';
import type { HttpResult } from '../../functions/http/http.ts';
import { toProblem } from '../../functions/http/problems.ts';
import { certainlyNotWritten } from '../../functions/platform/aws-errors.ts';
import { type ApiRequest, TEST_USER_ARN } from '../support/api-event.ts';
import { expectProblem, invoke, loadHandlers, type RouteHandler } from '../support/http-handlers.ts';
import { InMemoryIdempotencyStore } from '../support/in-memory-idempotency-store.ts';
import { InMemoryCounterRepository } from '../support/in-memory-repository.ts';

// functions/http/changes.ts: a change with or without Idempotency-Key, through the changing routes
// (increment, set, delete) over in-memory tables.

const OTHER_USER_ARN = 'arn:aws:iam::123456789012:user/other-tester';
const KEY = 'order-5c6e8a';

type Factory = (deps: ChangeDeps) => RouteHandler;
let factories: { increment: Factory; set: Factory; delete: Factory };

// The route modules also build their production handler at import, which reads the environment:
// loadHandlers sets it and imports them, so the factories below come from the same modules.
beforeAll(async () => {
  await loadHandlers();
  const [increment, set, remove] = await Promise.all([
    import('../../functions/http/increment-counter.ts'),
    import('../../functions/http/set-counter.ts'),
    import('../../functions/http/delete-counter.ts'),
  ]);
  factories = {
    increment: increment.createIncrementHandler,
    set: set.createSetHandler,
    delete: remove.createDeleteHandler,
  };
});

afterAll(() => {
  vi.unstubAllEnvs();
});

/** The changing routes over an in-memory counters table and idempotency table. */
function setup() {
  const repository = new InMemoryCounterRepository();
  const store = new InMemoryIdempotencyStore(repository);
  let ids = 0;
  const service = {
    repository,
    now: () => '2025-01-01T00:00:00.000Z',
    newId: () => `id-${++ids}`,
  };
  const deps: ChangeDeps = {
    service,
    idempotent: {
      store,
      repository,
      newId: service.newId,
      notApplied: certainlyNotWritten,
      // A keyed change's recovery and early repeats wait for the stream consumer: here it runs then.
      sleep: async () => {
        await witness(store, repository.takeStream());
      },
    },
  };
  return {
    repository,
    store,
    increment: factories.increment(deps),
    set: factories.set(deps),
    delete: factories.delete(deps),
  };
}

function post(name: string, body?: string, headers: Record<string, string> = {}): ApiRequest {
  return {
    routeKey: 'POST /counters/{name}',
    path: `/counters/${name}`,
    pathParameters: { name },
    headers,
    ...(body === undefined ? {} : { body }),
  };
}

function put(name: string, body: string, headers: Record<string, string> = {}): ApiRequest {
  return { ...post(name, body, headers), routeKey: 'PUT /counters/{name}' };
}

function del(name: string, headers: Record<string, string> = {}): ApiRequest {
  return {
    routeKey: 'DELETE /counters/{name}',
    path: `/counters/${name}`,
    pathParameters: { name },
    headers,
  };
}

function keyed(key = KEY, extra: Record<string, string> = {}): Record<string, string> {
  return { 'idempotency-key': key, ...extra };
}

/** What a replay must repeat: the status, the body and the headers the first answer carried. */
function answerOf(result: HttpResult) {
  return {
    statusCode: result.statusCode,
    body: result.body,
    etag: result.headers?.etag,
    contentType: result.headers?.['content-type'],
  };
}

describe('Idempotency-Key validation', () => {
  it.each([
    ['256 characters', 'k'.repeat(256)],
    ['an empty key', ''],
    ['a tab', 'key\twith-tab'],
    ['a line break', 'key\nwith-newline'],
    ['a control character', 'key\u0007bell'],
    ['DEL', 'key\u007f'],
    ['a non-ASCII letter', 'clé'],
    ['an emoji', 'key-🔑'],
  ])('answers 400 problem+json for a key with %s and changes nothing', async (_, key) => {
    // Prepare
    const { repository, store, increment } = setup();

    // Act
    const result = await invoke(increment, post('visits', '{"by": 2}', keyed(key)));

    // Assess
    const problem = expectProblem(result, 400);
    expect(problem.type).toBe('/problems/invalid-request');
    expect(problem.detail).toContain('Idempotency-Key');
    expect(await repository.get('visits')).toBeUndefined();
    expect(store.calls.claim).toBe(0);
  });

  it('accepts a key of 255 printable ASCII characters, spaces and symbols included', async () => {
    // Prepare
    const { repository, store, increment } = setup();
    const key = ' !~'.repeat(85);

    // Act
    const result = await invoke(increment, post('visits', undefined, keyed(key)));

    // Assess
    expect(result.statusCode).toBe(200);
    expect(await repository.get('visits')).toMatchObject({ value: 1 });
    expect(store.peek(idempotencyId(TEST_USER_ARN, key))).toMatchObject({ status: 'in-flight' });
  });

  it('leaves a request without a key to the plain change, with no record', async () => {
    // Prepare
    const { repository, store, increment } = setup();

    // Act
    const first = await invoke(increment, post('visits'));
    const second = await invoke(increment, post('visits'));

    // Assess
    expect(first.statusCode).toBe(200);
    expect(second.headers?.['idempotent-replayed']).toBeUndefined();
    expect(await repository.get('visits')).toMatchObject({ value: 2, version: 2 });
    expect(store.calls.claim).toBe(0);
  });
});

describe('replays', () => {
  it('answers a repeated POST with the first status, body and ETag, marked Idempotent-Replayed, and changes nothing', async () => {
    // Prepare
    const { repository, increment } = setup();
    const first = await invoke(increment, post('visits', '{"by": 5}', keyed()));

    // Act
    const repeat = await invoke(increment, post('visits', '{"by": 5}', keyed()));

    // Assess
    expect(first.statusCode).toBe(200);
    expect(first.headers?.['idempotent-replayed']).toBeUndefined();
    expect(answerOf(repeat)).toEqual(answerOf(first));
    expect(repeat.headers).toMatchObject({ etag: '"1"', 'idempotent-replayed': 'true' });
    expect(repeat.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'x-request-id': 'request-1',
    });
    expect(await repository.get('visits')).toMatchObject({ value: 5, version: 1 });
  });

  it('replays to a POST with {"by": 1} the answer to the same POST without a body', async () => {
    // Prepare
    const { repository, increment } = setup();
    const first = await invoke(increment, post('visits', undefined, keyed()));

    // Act
    const repeat = await invoke(increment, post('visits', '{"by": 1}', keyed()));

    // Assess
    expect(repeat.headers?.['idempotent-replayed']).toBe('true');
    expect(answerOf(repeat)).toEqual(answerOf(first));
    expect(await repository.get('visits')).toMatchObject({ value: 1, version: 1 });
  });

  it('replays a PUT with its ETag, even after another change moved the counter on', async () => {
    // Prepare
    const { repository, set, increment } = setup();
    const first = await invoke(set, put('visits', '{"value": 10}', keyed()));
    await invoke(increment, post('visits'));

    // Act
    const repeat = await invoke(set, put('visits', '{"value": 10}', keyed()));

    // Assess
    expect(answerOf(repeat)).toEqual(answerOf(first));
    expect(repeat.headers).toMatchObject({ etag: '"1"', 'idempotent-replayed': 'true' });
    expect(await repository.get('visits')).toMatchObject({ value: 11, version: 2 });
  });

  it('replays a keyed DELETE as 204 with an empty body, not 404, and deletes nothing created since', async () => {
    // Prepare
    const { repository, increment, delete: remove } = setup();
    await invoke(increment, post('visits'));
    const first = await invoke(remove, del('visits', keyed()));
    await invoke(increment, post('visits'));

    // Act
    const repeat = await invoke(remove, del('visits', keyed()));

    // Assess
    expect(first.statusCode).toBe(204);
    expect(first.body).toBeUndefined();
    expect(repeat.statusCode).toBe(204);
    expect(repeat.body).toBeUndefined();
    expect(repeat.headers?.['idempotent-replayed']).toBe('true');
    expect(await repository.get('visits')).toMatchObject({ value: 1, version: 1 });
  });

  it('replays a refusal: a 412 under If-Match answers 412 again with the same problem', async () => {
    // Prepare
    const { repository, set, increment } = setup();
    await invoke(increment, post('visits'));
    const first = await invoke(set, put('visits', '{"value": 10}', keyed(KEY, { 'if-match': '"9"' })));

    // Act
    const repeat = await invoke(set, put('visits', '{"value": 10}', keyed(KEY, { 'if-match': '"9"' })));

    // Assess
    expectProblem(first, 412);
    expectProblem(repeat, 412);
    expect(answerOf(repeat)).toEqual(answerOf(first));
    expect(repeat.headers?.['idempotent-replayed']).toBe('true');
    expect(await repository.get('visits')).toMatchObject({ value: 1, version: 1 });
  });

  it('keeps the same key of two principals apart', async () => {
    // Prepare
    const { repository, increment } = setup();
    await invoke(increment, post('visits', undefined, keyed()));

    // Act
    const other = await invoke(increment, { ...post('visits', undefined, keyed()), userArn: OTHER_USER_ARN });

    // Assess
    expect(other.statusCode).toBe(200);
    expect(other.headers?.['idempotent-replayed']).toBeUndefined();
    expect(await repository.get('visits')).toMatchObject({ value: 2, version: 2 });
  });
});

describe('keys that cannot be answered now', () => {
  it('answers 422 problem+json for the same key with another body, and changes nothing', async () => {
    // Prepare
    const { repository, increment } = setup();
    await invoke(increment, post('visits', '{"by": 1}', keyed()));

    // Act
    const result = await invoke(increment, post('visits', '{"by": 2}', keyed()));

    // Assess
    const problem = expectProblem(result, 422);
    expect(problem.type).toBe('/problems/idempotency-key-reused');
    expect(result.headers?.['idempotent-replayed']).toBeUndefined();
    expect(await repository.get('visits')).toMatchObject({ value: 1, version: 1 });
  });

  it('answers 422 for the same key on another route', async () => {
    // Prepare
    const { repository, increment, set } = setup();
    await invoke(increment, post('visits', '{"by": 1}', keyed()));

    // Act
    const result = await invoke(set, put('visits', '{"value": 1}', keyed()));

    // Assess
    expectProblem(result, 422);
    expect(await repository.get('visits')).toMatchObject({ value: 1, version: 1 });
  });

  it('answers 409 problem+json with Retry-After to a repeat while the first is in flight', async () => {
    // Prepare
    const { repository, increment } = setup();
    let repeat: HttpResult | undefined;
    const write = repository.increment.bind(repository);
    // The repeat arrives between the first's claim and its write.
    vi.spyOn(repository, 'increment').mockImplementationOnce(async (input) => {
      repeat = await invoke(increment, post('visits', undefined, keyed()));
      return write(input);
    });

    // Act
    const first = await invoke(increment, post('visits', undefined, keyed()));

    // Assess
    expect(first.statusCode).toBe(200);
    if (repeat === undefined) throw new Error('the repeat did not run');
    const problem = expectProblem(repeat, 409);
    expect(problem.type).toBe('/problems/request-in-flight');
    expect(repeat.headers?.['retry-after']).toBe('1');
    expect(await repository.get('visits')).toMatchObject({ value: 1, version: 1 });
  });

  it('answers every one of many keyed increments of one counter at once: no contention to refuse them', async () => {
    // Prepare
    const { repository, increment } = setup();

    // Act
    const results = await Promise.all(
      Array.from({ length: 25 }, (_, i) => invoke(increment, post('visits', undefined, keyed(`key-${i}`)))),
    );

    // Assess
    expect(results.map((result) => result.statusCode)).toEqual(Array.from({ length: 25 }, () => 200));
    const versions = results.map((result) => JSON.parse(String(result.body)).version).sort((a, b) => a - b);
    expect(versions).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(await repository.get('visits')).toMatchObject({ value: 25, version: 25 });
  });

  it('answers 503 /problems/contended with Retry-After, not 429, when other transactions kept the items busy', () => {
    // Act
    const problem = toProblem(new CounterBusyError('visits'));

    // Assess
    expect(problem.status).toBe(503);
    expect(problem.type).toBe('/problems/contended');
    expect(problem.headers['retry-after']).toBe('1');
  });
});

describe('a keyed change whose transaction was throttled', () => {
  it('answers 429 with Retry-After, not 500, since nothing was applied', async () => {
    // Prepare
    const error = new TransactionCanceledException({
      message: 'Transaction cancelled',
      $metadata: {},
      CancellationReasons: [{ Code: 'ThrottlingError' }, { Code: 'None' }],
    });

    // Act
    const problem = toProblem(error);

    // Assess
    expect(problem.status).toBe(429);
    expect(problem.headers['retry-after']).toBe('1');
  });

  it('answers 500 for a transaction cancelled for another reason', () => {
    const error = new TransactionCanceledException({
      message: 'Transaction cancelled',
      $metadata: {},
      CancellationReasons: [{ Code: 'ValidationError' }],
    });

    expect(toProblem(error).status).toBe(500);
  });
});
