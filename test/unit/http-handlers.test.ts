import { ProvisionedThroughputExceededException, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DeleteCommand,
  GetCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { encodeCursor } from '../../functions/counter/cursor.ts';
import { MAX_VALUE } from '../../functions/counter/schema.ts';
import type { HttpResult } from '../../functions/http/http.ts';
import type { ApiRequest } from '../support/api-event.ts';
import { TEST_USER_ARN } from '../support/api-event.ts';
import { counterItem } from '../support/counter-items.ts';
import { useDocumentClientMock } from '../support/document-client-mock.ts';
import { conditionFailed } from '../support/dynamodb-answers.ts';
import {
  COUNTERS_TABLE,
  expectProblem,
  type Handlers,
  HISTORY_TABLE,
  invoke,
  loadHandlers,
  ROLLUPS_TABLE,
  type RouteHandler,
} from '../support/http-handlers.ts';
import { anyBigInt, nonIntegerLiteral } from '../support/number-literals.ts';

const { ddbMock } = useDocumentClientMock();
let handlers: Handlers;

beforeAll(async () => {
  handlers = await loadHandlers();
});

afterAll(() => {
  vi.unstubAllEnvs();
});

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

function post(name: string, body?: string, headers?: Record<string, string>): ApiRequest {
  return {
    routeKey: 'POST /counters/{name}',
    path: `/counters/${encodeURIComponent(name)}`,
    pathParameters: { name },
    ...(body === undefined ? {} : { body }),
    ...(headers === undefined ? {} : { headers }),
  };
}

function put(name: string, body?: string, headers?: Record<string, string>): ApiRequest {
  return { ...post(name, body, headers), routeKey: 'PUT /counters/{name}' };
}

function get(name: string): ApiRequest {
  return { routeKey: 'GET /counters/{name}', path: `/counters/${name}`, pathParameters: { name } };
}

function del(name: string, headers?: Record<string, string>): ApiRequest {
  return {
    routeKey: 'DELETE /counters/{name}',
    path: `/counters/${name}`,
    pathParameters: { name },
    ...(headers === undefined ? {} : { headers }),
  };
}

function list(query?: Record<string, string>): ApiRequest {
  return { routeKey: 'GET /counters', path: '/counters', ...(query === undefined ? {} : { query }) };
}

function history(name: string, query?: Record<string, string>): ApiRequest {
  return {
    routeKey: 'GET /counters/{name}/history',
    path: `/counters/${name}/history`,
    pathParameters: { name },
    ...(query === undefined ? {} : { query }),
  };
}

function bodyOf(result: HttpResult): unknown {
  return JSON.parse(String(result.body));
}

describe('POST /counters/{name}', () => {
  it('adds 1 when there is no body, and answers the counter with its ETag', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem({ name: 'visits', value: 1, version: 1 }) });

    // Act
    const result = await invoke(handlers.increment, post('visits'));

    // Assess
    expect(result.statusCode).toBe(200);
    expect(result.headers).toMatchObject({ 'content-type': 'application/json', etag: '"1"' });
    expect(bodyOf(result)).toEqual({
      name: 'visits',
      value: 1,
      version: 1,
      created_at: '2025-01-01T00:00:00.000Z',
      updated_at: '2025-01-01T00:00:00.000Z',
    });
    const input = ddbMock.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(input?.TableName).toBe(COUNTERS_TABLE);
    expect(input?.Key).toEqual({ name: 'visits' });
    expect(input?.ExpressionAttributeValues).toMatchObject({ ':by': 1, ':actor': TEST_USER_ARN });
  });

  it('answers 204 with the ETag and Preference-Applied, without a body, to Prefer: return=minimal', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem({ name: 'visits', value: 7, version: 7 }) });

    // Act
    const result = await invoke(handlers.increment, post('visits', undefined, { prefer: 'return=minimal' }));
    const other = await invoke(
      handlers.increment,
      post('visits', undefined, { prefer: 'return=representation' }),
    );

    // Assess
    expect(result.statusCode).toBe(204);
    expect(result.body ?? '').toBe('');
    expect(result.headers).toMatchObject({ etag: '"7"', 'preference-applied': 'return=minimal' });
    expect(other.statusCode).toBe(200);
    expect(other.headers).not.toHaveProperty('preference-applied');
  });

  it('reads Prefer as RFC 7240 says: names in any case, quoted values, spaces and parameters', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem({ name: 'visits', value: 7, version: 7 }) });
    const minimal = [
      'Return=minimal',
      'RETURN = "minimal"',
      'respond-async, return=minimal; x=1',
      'wait=5,return=minimal',
    ];
    const representation = [
      'return=Minimal',
      'return=minimal=1',
      'return=minimalist',
      'x-return=minimal',
      'return',
      '',
    ];

    // Act
    const answers = async (values: string[]) =>
      Promise.all(
        values.map(
          async (prefer) =>
            (await invoke(handlers.increment, post('visits', undefined, { prefer }))).statusCode,
        ),
      );

    // Assess: token names compare case-insensitively, values case-sensitively (RFC 7240 section 2).
    expect(await answers(minimal)).toEqual(minimal.map(() => 204));
    expect(await answers(representation)).toEqual(representation.map(() => 200));
  });

  it('adds the N of {"by": N}, negative included', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem({ value: -4 }) });

    // Act
    const result = await invoke(handlers.increment, post('a', '{"by": -5}'));

    // Assess
    expect(result.statusCode).toBe(200);
    expect(ddbMock.commandCalls(UpdateCommand)[0]?.args[0].input.ExpressionAttributeValues?.[':by']).toBe(-5);
  });

  it('addresses the default counter on the seed route POST /counter', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem({ name: 'default' }) });

    // Act
    const result = await invoke(handlers.increment, { routeKey: 'POST /counter', path: '/counter' });

    // Assess
    expect(result.statusCode).toBe(200);
    expect(ddbMock.commandCalls(UpdateCommand)[0]?.args[0].input.Key).toEqual({ name: 'default' });
  });

  it('answers 409 problem+json when the change would leave the range', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed(counterItem({ value: MAX_VALUE, version: 3 })));

    // Act
    const result = await invoke(handlers.increment, post('a', '{"by": 1}'));

    // Assess
    const problem = expectProblem(result, 409);
    expect(problem.detail).toContain(String(MAX_VALUE));
  });

  it('answers 412 when If-Match names another version, having sent the version as a condition', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed(counterItem({ version: 4 })));

    // Act
    const result = await invoke(handlers.increment, post('a', undefined, { 'if-match': '"3"' }));

    // Assess
    expectProblem(result, 412);
    expect(
      ddbMock.commandCalls(UpdateCommand)[0]?.args[0].input.ExpressionAttributeValues?.[':expected'],
    ).toBe(3);
  });

  it.each(['3', 'W/"3"', '"abc"', '"-1"', '"3", "4"', '""'])(
    'answers 400 for the malformed If-Match %s and changes nothing',
    async (ifMatch) => {
      // Act
      const result = await invoke(handlers.increment, post('a', undefined, { 'if-match': ifMatch }));

      // Assess
      expectProblem(result, 400);
      expect(ddbMock.calls()).toHaveLength(0);
    },
  );

  // GET of the never-changed default counter answers ETag "0"; sending it back as If-Match must not
  // be refused as malformed (docs/api.md section 4: 412 only if the version differs).
  it('accepts If-Match "0", the ETag the untouched default counter is served with', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem({ name: 'default', version: 1 }) });

    // Act
    const result = await invoke(handlers.increment, {
      routeKey: 'POST /counter',
      path: '/counter',
      headers: { 'if-match': '"0"' },
    });

    // Assess
    expect(result.statusCode).toBe(200);
    expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(1);
  });

  it.each([
    ['a fraction', '{"by": 1.5}'],
    ['a string', '{"by": "10"}'],
    ['an exponent', '{"by": 1e3}'],
    ['an integer written with a fraction', '{"by": 1.0}'],
    ['null', '{"by": null}'],
    ['one past the maximum', '{"by": 9007199254740992}'],
    ['one past the minimum', '{"by": -9007199254740992}'],
    ['a boolean', '{"by": true}'],
    ['malformed JSON', '{"by": 1'],
    ['an unknown field', '{"by": 1, "extra": 2}'],
    ['a misspelt field', '{"bye": 1}'],
    ['an array', '[1]'],
    ['a bare number', '5'],
    ['a JSON string', '"by"'],
    ['text that is not JSON', 'by=1'],
    ['an increment by 0', '{"by": 0}'],
    ['the field twice', '{"by": 1, "by": 1000}'],
  ])('answers 400 problem+json for %s and sends nothing to DynamoDB', async (_what, body) => {
    // Act
    const result = await invoke(handlers.increment, post('a', body));

    // Assess
    expectProblem(result, 400);
    expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(0);
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it('says in the detail which field was wrong and how', async () => {
    // Act
    const result = await invoke(handlers.increment, post('a', '{"by": "10"}'));

    // Assess
    const problem = expectProblem(result, 400);
    expect(problem.detail).toContain('by');
    expect(problem.detail).toContain('whole number');
  });

  it('answers 413 for a body over 16 KiB and changes nothing', async () => {
    // Prepare
    const body = `{"by": 1, "pad": "${'x'.repeat(16 * 1024)}"}`;

    // Act
    const result = await invoke(handlers.increment, post('a', body));

    // Assess
    expectProblem(result, 413);
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it('reads a base64-encoded body', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem({ value: 7 }) });
    const request = { ...post('a', Buffer.from('{"by": 7}').toString('base64')), isBase64Encoded: true };

    // Act
    const result = await invoke(handlers.increment, request);

    // Assess
    expect(result.statusCode).toBe(200);
    expect(ddbMock.commandCalls(UpdateCommand)[0]?.args[0].input.ExpressionAttributeValues?.[':by']).toBe(7);
  });
});

describe('PUT /counters/{name}', () => {
  it('sets the value and answers the counter', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem({ value: 10, version: 2, op: 'set' }) });

    // Act
    const result = await invoke(handlers.set, put('a', '{"value": 10}'));

    // Assess
    expect(result.statusCode).toBe(200);
    expect(result.headers?.etag).toBe('"2"');
    expect(bodyOf(result)).toMatchObject({ name: 'a', value: 10, version: 2 });
    expect(ddbMock.commandCalls(UpdateCommand)[0]?.args[0].input.ExpressionAttributeValues).toMatchObject({
      ':value': 10,
      ':op': 'set',
    });
  });

  it.each([
    ['no body', undefined],
    ['an empty object (missing field)', '{}'],
    ['a blank body', '   '],
    ['a fraction', '{"value": 1.5}'],
    ['a string', '{"value": "10"}'],
    ['an exponent', '{"value": 1e3}'],
    ['null', '{"value": null}'],
    ['one past the maximum', '{"value": 9007199254740992}'],
    ['an unknown field', '{"value": 1, "by": 1}'],
    ['malformed JSON', '{"value": }'],
  ])('answers 400 problem+json for %s and sends nothing to DynamoDB', async (_what, body) => {
    // Act
    const result = await invoke(handlers.set, put('a', body));

    // Assess
    expectProblem(result, 400);
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it('names the missing field in the detail', async () => {
    // Act
    const result = await invoke(handlers.set, put('a', '{}'));

    // Assess
    expect(expectProblem(result, 400).detail).toContain('value');
  });

  it('answers 413 for a body over 16 KiB', async () => {
    // Act
    const result = await invoke(handlers.set, put('a', `{"value": 1, "p": "${'y'.repeat(17_000)}"}`));

    // Assess
    expectProblem(result, 413);
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it('answers 412 when If-Match names another version', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed(counterItem({ version: 9 })));

    // Act
    const result = await invoke(handlers.set, put('a', '{"value": 1}', { 'if-match': '"8"' }));

    // Assess
    expectProblem(result, 412);
  });
});

describe('bad counter names', () => {
  const badNames = [
    ['a slash', 'a/b'],
    ['129 characters', 'n'.repeat(129)],
    ['a non-ASCII letter', 'é'],
    ['a space', 'a b'],
    ['a hash', 'a#b'],
    // URLs resolve these path segments away, so many clients could never reach such a counter.
    ['one dot', '.'],
    ['two dots', '..'],
    ['dots alone', '...'],
  ];
  const routes: [string, (name: string) => ApiRequest, () => RouteHandler][] = [
    ['POST', (name) => post(name), () => handlers.increment],
    ['PUT', (name) => put(name, '{"value": 1}'), () => handlers.set],
    ['GET', get, () => handlers.get],
    ['DELETE', (name) => del(name), () => handlers.delete],
    ['GET history', (name) => history(name), () => handlers.history],
  ];

  for (const [route, request, handler] of routes) {
    it.each(badNames)(`${route} answers 400 for a name with %s and touches nothing`, async (_what, name) => {
      // Act
      const result = await invoke(handler(), request(name));

      // Assess
      expectProblem(result, 400);
      expect(ddbMock.calls()).toHaveLength(0);
    });
  }

  it.each(['.a', 'a.', '..a', '.-.'])('accepts the name %s, dots with something else', async (name) => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem({ name }) });

    // Act
    const result = await invoke(handlers.increment, post(name));

    // Assess
    expect(result.statusCode).toBe(200);
  });

  it('says why a name of dots alone is refused', async () => {
    // Act
    const result = await invoke(handlers.increment, post('..'));

    // Assess
    expect(expectProblem(result, 400).detail).toContain('a character other than "."');
  });

  it('accepts a name of 128 characters from the whole alphabet', async () => {
    // Prepare
    const name = `AZaz09._:-${'x'.repeat(118)}`;
    ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem({ name }) });

    // Act
    const result = await invoke(handlers.increment, post(name));

    // Assess
    expect(result.statusCode).toBe(200);
  });
});

describe('GET /counters/{name}', () => {
  it('answers the counter with ETag "<version>" and no storage-only fields', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: counterItem({ value: 12, version: 4 }) });

    // Act
    const result = await invoke(handlers.get, get('a'));

    // Assess
    expect(result.statusCode).toBe(200);
    expect(result.headers?.etag).toBe('"4"');
    expect(bodyOf(result)).toEqual({
      name: 'a',
      value: 12,
      version: 4,
      created_at: '2025-01-01T00:00:00.000Z',
      updated_at: '2025-01-01T00:00:00.000Z',
    });
  });

  it('answers 404 problem+json for an absent counter', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({});

    // Act
    const result = await invoke(handlers.get, get('absent'));

    // Assess
    expectProblem(result, 404);
  });

  it('answers the never-changed default counter as 0 at version 0 on GET /counter', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({});

    // Act
    const result = await invoke(handlers.get, { routeKey: 'GET /counter', path: '/counter' });

    // Assess
    expect(result.statusCode).toBe(200);
    expect(result.headers?.etag).toBe('"0"');
    expect(bodyOf(result)).toEqual({
      name: 'default',
      value: 0,
      version: 0,
      created_at: null,
      updated_at: null,
    });
  });
});

describe('DELETE /counters/{name}', () => {
  it('answers 204 with an empty body', async () => {
    // Prepare
    ddbMock.on(DeleteCommand).resolves({ Attributes: counterItem() });

    // Act
    const result = await invoke(handlers.delete, del('a'));

    // Assess
    expect(result.statusCode).toBe(204);
    expect(result.body ?? '').toBe('');
    expect(result.headers).toMatchObject(SECURITY_HEADERS);
  });

  it('answers 404 when there was no counter', async () => {
    // Prepare: the delete's condition that a counter is there fails, with no item to return
    ddbMock.on(DeleteCommand).rejects(conditionFailed());

    // Act
    const result = await invoke(handlers.delete, del('a'));

    // Assess
    expectProblem(result, 404);
  });

  it('answers 412 when If-Match names another version', async () => {
    // Prepare
    ddbMock.on(DeleteCommand).rejects(conditionFailed(counterItem({ version: 2 })));

    // Act
    const result = await invoke(handlers.delete, del('a', { 'if-match': '"1"' }));

    // Assess
    expectProblem(result, 412);
  });
});

describe('GET /counters', () => {
  it('answers a JSON array and a Link to the next page while more remain', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({
      Items: [
        { kind: 'counter', name: 'shop.a' },
        { kind: 'counter', name: 'shop.b' },
      ],
    });
    ddbMock
      .on(BatchGetCommand)
      .resolves({ Responses: { [COUNTERS_TABLE]: [counterItem({ name: 'shop.a' })] } });

    // Act
    const result = await invoke(handlers.list, list({ prefix: 'shop.', limit: '1' }));

    // Assess
    expect(result.statusCode).toBe(200);
    expect(bodyOf(result)).toEqual([expect.objectContaining({ name: 'shop.a' })]);
    const cursor = encodeCursor({ p: 'shop.', a: 'shop.a' });
    expect(result.headers?.link).toBe(`</counters?prefix=shop.&limit=1&cursor=${cursor}>; rel="next"`);
  });

  it('sends no Link on the last page', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: [] });
    ddbMock.on(BatchGetCommand).resolves({});

    // Act
    const result = await invoke(handlers.list, list());

    // Assess
    expect(result.statusCode).toBe(200);
    expect(bodyOf(result)).toEqual([]);
    expect(result.headers).not.toHaveProperty('link');
  });

  it.each([
    ['limit=0', { limit: '0' }],
    ['limit=abc', { limit: 'abc' }],
    ['limit=101', { limit: '101' }],
    ['limit=1.5', { limit: '1.5' }],
    ['limit=-1', { limit: '-1' }],
    ['an unknown parameter', { sort: 'desc' }],
    ['a prefix with a slash', { prefix: 'a/b' }],
    ['a garbage cursor', { cursor: 'not-a-cursor' }],
    ['a cursor for another prefix', { prefix: 'b', cursor: encodeCursor({ p: 'a', a: 'a1' }) }],
  ])('answers 400 problem+json for %s and reads nothing', async (_what, query) => {
    // Act
    const result = await invoke(handlers.list, list(query));

    // Assess
    expectProblem(result, 400);
    expect(ddbMock.calls()).toHaveLength(0);
  });
});

describe('GET /counters/{name}/history', () => {
  it('answers the changes oldest first and a Link while more remain', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: counterItem({ version: 3, incarnation: 'inc-1' }) });
    const entry = (version: number) => ({
      counter: 'a#inc-1',
      version,
      value: version,
      delta: 1,
      op: 'increment',
      created_at: '2025-01-01T00:00:00.000Z',
      actor: 'arn:me',
    });
    ddbMock
      .on(QueryCommand, { TableName: HISTORY_TABLE })
      .resolves({ Items: [entry(1), entry(2), entry(3)] });
    // The minute rollups hold every version: all three are readable.
    ddbMock.on(QueryCommand, { TableName: ROLLUPS_TABLE }).resolves({
      Items: [{ series: 'a#inc-1#minute', start: '2025-01-01T00:00:00.000Z', last_version: 3 }],
    });

    // Act
    const result = await invoke(handlers.history, history('a', { limit: '2' }));

    // Assess
    expect(result.statusCode).toBe(200);
    expect(bodyOf(result)).toEqual([
      {
        version: 1,
        value: 1,
        delta: 1,
        op: 'increment',
        created_at: '2025-01-01T00:00:00.000Z',
        actor: 'arn:me',
      },
      {
        version: 2,
        value: 2,
        delta: 1,
        op: 'increment',
        created_at: '2025-01-01T00:00:00.000Z',
        actor: 'arn:me',
      },
    ]);
    const cursor = encodeCursor({ i: 'inc-1', v: 2 });
    expect(result.headers?.link).toBe(`</counters/a/history?limit=2&cursor=${cursor}>; rel="next"`);
    expect(ddbMock.commandCalls(QueryCommand, { TableName: HISTORY_TABLE })).toHaveLength(1);
  });

  it('answers 404 for the history of an absent counter', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({});

    // Act
    const result = await invoke(handlers.history, history('absent'));

    // Assess
    expectProblem(result, 404);
  });

  it.each([
    ['limit=0', { limit: '0' }],
    ['limit=1001', { limit: '1001' }],
    ['limit=abc', { limit: 'abc' }],
    ['an unknown parameter', { prefix: 'a' }],
  ])('answers 400 problem+json for %s and reads nothing', async (_what, query) => {
    // Act
    const result = await invoke(handlers.history, history('a', query));

    // Assess
    expectProblem(result, 400);
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it('answers 400 for a cursor of an earlier counter of the same name', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: counterItem({ incarnation: 'inc-2' }) });

    // Act
    const result = await invoke(
      handlers.history,
      history('a', { cursor: encodeCursor({ i: 'inc-1', v: 3 }) }),
    );

    // Assess
    expectProblem(result, 400);
    expect(ddbMock.commandCalls(QueryCommand)).toHaveLength(0);
  });
});

describe('failures of the store', () => {
  it.each([
    [
      'ProvisionedThroughputExceededException',
      new ProvisionedThroughputExceededException({ message: 'x', $metadata: {} }),
    ],
    ['ThrottlingException', Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' })],
  ])('answers 429 with Retry-After when DynamoDB throttles (%s)', async (_name, error) => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(error);

    // Act
    const result = await invoke(handlers.increment, post('a'));

    // Assess
    expectProblem(result, 429);
    expect(Number(result.headers?.['retry-after'])).toBeGreaterThan(0);
  });

  it('answers 500 without the table name, the SDK message or a stack', async () => {
    // Prepare
    const message = `Requested resource not found: Table: ${COUNTERS_TABLE} not found`;
    ddbMock.on(UpdateCommand).rejects(new ResourceNotFoundException({ message, $metadata: {} }));

    // Act
    const result = await invoke(handlers.increment, post('a'));

    // Assess
    expectProblem(result, 500);
    const text = String(result.body);
    expect(text).not.toContain(COUNTERS_TABLE);
    expect(text).not.toContain('Requested resource');
    expect(text).not.toContain('ResourceNotFoundException');
    expect(text).not.toMatch(/\bat .+:\d+:\d+/);
  });

  it('answers 500 without detail when the store returns an item that is not a counter', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: { name: 'a', value: 'corrupt', secret: 'inside' } });

    // Act
    const result = await invoke(handlers.get, get('a'));

    // Assess
    expectProblem(result, 500);
    expect(String(result.body)).not.toContain('corrupt');
  });
});

describe('response headers', () => {
  it('carries the security headers and the request id on a success', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: counterItem() });

    // Act
    const result = await invoke(handlers.get, get('a'));

    // Assess
    expect(result.headers).toMatchObject({ ...SECURITY_HEADERS, 'x-request-id': 'request-1' });
  });

  it('carries the security headers on a problem', async () => {
    // Act
    const result = await invoke(handlers.increment, post('a', '{'));

    // Assess
    expect(result.headers).toMatchObject(SECURITY_HEADERS);
  });

  it('carries the security headers on a 500', async () => {
    // Prepare
    ddbMock.on(GetCommand).rejects(new Error('boom'));

    // Act
    const result = await invoke(handlers.get, get('a'));

    // Assess
    expect(result.statusCode).toBe(500);
    expect(result.headers).toMatchObject(SECURITY_HEADERS);
  });
});

// Property tests: arbitrary bodies and If-Match headers, as a hostile caller may send them.
/** Anything a caller might send as a body: text, JSON, and near-misses of the expected shapes. */
function bodies(field: 'by' | 'value'): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.maxSafeInteger().map((n) => JSON.stringify({ [field]: n })) },
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.json({ maxDepth: 4 }),
    fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify({ [field]: value })),
    fc.oneof(anyBigInt.map(String), nonIntegerLiteral).map((literal) => `{"${field}": ${literal}}`),
    fc
      .dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 })
      .map((extra) => JSON.stringify({ [field]: 1, ...extra })),
  );
}

/** Mostly no If-Match, sometimes a well-formed one, sometimes anything. */
const ifMatchHeaders = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.nat().map((version) => `"${version}"`) },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
);

describe('any body to the change handlers', () => {
  for (const [route, field] of [
    ['increment', 'by'],
    ['set', 'value'],
  ] as const) {
    it(`never makes the ${route} handler answer 5xx, and every refusal is problem+json that changed nothing`, async () => {
      await fc.assert(
        fc.asyncProperty(bodies(field), ifMatchHeaders, async (body, ifMatch) => {
          // Prepare
          ddbMock.reset();
          ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem({ value: 3, version: 2 }) });
          const handler = route === 'increment' ? handlers.increment : handlers.set;

          // Act
          const result = await invoke(handler, {
            routeKey: `${route === 'increment' ? 'POST' : 'PUT'} /counters/{name}`,
            path: '/counters/a',
            pathParameters: { name: 'a' },
            body,
            ...(ifMatch === undefined ? {} : { headers: { 'if-match': ifMatch } }),
          });

          // Assess
          const status = result.statusCode ?? 0;
          expect(status).toBeLessThan(500);
          if (status >= 400) {
            expectProblem(result, status);
            expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(0);
          } else {
            expect(status).toBe(200);
            expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(1);
          }
        }),
        { numRuns: 400 },
      );
    });
  }
});
