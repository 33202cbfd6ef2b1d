import { describe, expect, it } from 'vitest';
import {
  CounterClient,
  type CounterClientOptions,
  nextLink,
  retryAfter,
} from '../../client/counter-client.ts';
import {
  CounterApiError,
  CounterCredentialsError,
  CounterNetworkError,
  UnexpectedAnswerError,
} from '../../client/errors.ts';

interface Sent {
  url: string;
  method: string;
  headers: Headers;
  body: string | undefined;
}

type Reply = Response | Error;

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: {
      'content-type':
        status >= 400 && !('message' in Object(body)) ? 'application/problem+json' : 'application/json',
      ...headers,
    },
  });

const problem = (status: number, slug: string, detail: string, headers: Record<string, string> = {}) =>
  json(status, { type: `/problems/${slug}`, title: slug, status, detail }, headers);

const COUNTER = {
  name: 'a',
  value: 1,
  version: 1,
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
};

/** A client whose requests go to a script of replies, and whose sleeps are recorded, not slept. */
function scripted(replies: Reply[], options: Partial<CounterClientOptions> = {}) {
  const sent: Sent[] = [];
  const sleeps: number[] = [];
  const fake: typeof fetch = async (input, init) => {
    sent.push({
      url: String(input),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? init.body : undefined,
    });
    const reply = replies.shift();
    if (reply === undefined) throw new Error('no reply scripted');
    if (reply instanceof Error) throw reply;
    return reply;
  };
  const client = new CounterClient({
    url: 'http://127.0.0.1:3000',
    credentials: { accessKeyId: 'AKID', secretAccessKey: 'secret' },
    fetch: fake,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...options,
  });
  return { client, sent, sleeps };
}

const refused = () =>
  new TypeError('fetch failed', { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) });
const reset = () =>
  new TypeError('fetch failed', { cause: Object.assign(new Error('socket'), { code: 'ECONNRESET' }) });

describe('CounterClient', () => {
  it('signs each request with SigV4 for execute-api in its region, session token included', async () => {
    const { client, sent } = scripted([json(200, COUNTER)], {
      region: 'eu-west-1',
      credentials: { accessKeyId: 'AKID', secretAccessKey: 'secret', sessionToken: 'TOKEN' },
    });

    await client.get('a');

    const headers = sent[0]?.headers;
    expect(headers?.get('authorization')).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKID\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[^,]*x-amz-security-token/,
    );
    expect(headers?.get('x-amz-security-token')).toBe('TOKEN');
    expect(headers?.get('x-amz-date')).toMatch(/^\d{8}T\d{6}Z$/);
  });

  it('takes the region from an execute-api URL and keeps its stage path', async () => {
    const { client, sent } = scripted([json(200, COUNTER)], {
      url: 'https://abc123.execute-api.ap-southeast-2.amazonaws.com/prod/',
    });

    await client.get('a');

    expect(client.region).toBe('ap-southeast-2');
    expect(sent[0]?.url).toBe('https://abc123.execute-api.ap-southeast-2.amazonaws.com/prod/counters/a');
  });

  it('encodes names into the path, and refuses the names no URL path can carry', async () => {
    const { client, sent } = scripted([json(200, { ...COUNTER, name: 'shop:a/b' })]);

    await client.get('shop:a/b');

    expect(sent[0]?.url).toBe('http://127.0.0.1:3000/counters/shop%3Aa%2Fb');
    await expect(client.get('..')).rejects.toThrow(RangeError);
  });

  it('sends increments, sets and deletes with their body, If-Match and an Idempotency-Key', async () => {
    const { client, sent } = scripted([
      json(200, { ...COUNTER, value: -4 }),
      json(200, COUNTER),
      json(200, { ...COUNTER, value: 10 }),
      new Response(null, { status: 204 }),
    ]);

    await client.increment('a', -5, { ifMatch: 3 });
    await client.increment('a');
    await client.set('a', 10, { ifMatch: 0, idempotencyKey: 'mine' });
    await client.delete('a');

    expect(sent.map((request) => [request.method, request.body, request.headers.get('if-match')])).toEqual([
      ['POST', '{"by":-5}', '"3"'],
      ['POST', undefined, null],
      ['PUT', '{"value":10}', '"0"'],
      ['DELETE', undefined, null],
    ]);
    expect(sent[2]?.headers.get('idempotency-key')).toBe('mine');
    const generated = sent.map((request) => request.headers.get('idempotency-key'));
    expect(new Set(generated).size).toBe(4);
    expect(generated.every((key) => key !== null && /^[\x20-\x7e]{1,255}$/.test(key))).toBe(true);
  });

  it('retries a change after 5xx, throttling, a request in flight and a lost connection, always with the same key', async () => {
    const { client, sent } = scripted([
      problem(500, 'internal', 'failed'),
      problem(429, 'throttled', 'busy', { 'retry-after': '1' }),
      reset(),
      problem(409, 'request-in-flight', 'in flight', { 'retry-after': '1' }),
      json(200, { ...COUNTER, value: 6 }, { 'idempotent-replayed': 'true' }),
    ]);

    const result = await client.change('a', { op: 'increment', by: 5 });

    expect(result).toEqual({ counter: { ...COUNTER, value: 6 }, replayed: true });
    expect(sent).toHaveLength(5);
    expect(new Set(sent.map((request) => request.headers.get('idempotency-key'))).size).toBe(1);
  });

  it('waits at least as long as Retry-After asks, and backs off exponentially otherwise', async () => {
    const { client, sleeps } = scripted([
      problem(429, 'throttled', 'busy', { 'retry-after': '3' }),
      problem(503, 'internal', 'failed'),
      problem(503, 'internal', 'failed'),
      json(200, COUNTER),
    ]);

    await client.get('a');

    // Half the step plus a jittered half (random 0.5): 200 ms steps doubling.
    expect(sleeps).toEqual([3000, 300, 600]);
  });

  it('gives up after the configured attempts with the last answer as the error', async () => {
    const { client, sent } = scripted(
      [problem(503, 'internal', 'one'), problem(503, 'internal', 'two'), problem(503, 'internal', 'three')],
      { retry: { maxAttempts: 3 } },
    );

    const error = await client.increment('a').catch((caught: unknown) => caught);

    expect(sent).toHaveLength(3);
    expect(error).toBeInstanceOf(CounterApiError);
    expect(error).toMatchObject({ status: 503, detail: 'three', attempts: 3 });
  });

  it('does not retry a Retry-After longer than it is willing to wait', async () => {
    const { client, sent } = scripted([problem(429, 'throttled', 'busy', { 'retry-after': '3600' })]);

    await expect(client.get('a')).rejects.toMatchObject({ status: 429, retryAfterSeconds: 3600 });
    expect(sent).toHaveLength(1);
  });

  it('answers a refusal at once: 409 out of range, 412, 422 and 404 are not retried', async () => {
    const { client, sent } = scripted([
      problem(409, 'out-of-range', 'would leave the range'),
      problem(412, 'precondition-failed', 'at version 2'),
      problem(422, 'idempotency-key-reused', 'reused'),
      problem(404, 'not-found', 'There is no counter named "a".'),
    ]);

    await expect(client.increment('a', 1)).rejects.toMatchObject({ status: 409, problem: 'out-of-range' });
    await expect(client.set('a', 1, { ifMatch: 1 })).rejects.toMatchObject({ status: 412 });
    await expect(client.set('a', 1, { idempotencyKey: 'k' })).rejects.toMatchObject({ status: 422 });
    await expect(client.get('a')).rejects.toMatchObject({
      status: 404,
      type: '/problems/not-found',
      title: 'not-found',
      detail: 'There is no counter named "a".',
    });
    expect(sent).toHaveLength(4);
  });

  it("reports API Gateway's 403 with its message, as an authorization error", async () => {
    const { client } = scripted([json(403, { message: 'Forbidden' })]);

    const error = await client.get('a').catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(CounterApiError);
    expect(error).toMatchObject({ status: 403, detail: 'Forbidden', type: undefined, isAuthError: true });
  });

  it('reports a server that cannot be reached as a network error after a few attempts', async () => {
    const { client, sent } = scripted([refused(), refused(), refused(), refused()]);

    const error = await client.get('a').catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(CounterNetworkError);
    expect(String(error)).toContain('ECONNREFUSED');
    expect(sent).toHaveLength(3);
  });

  it('does not retry or send anything when there are no credentials to sign with', async () => {
    const { client, sent } = scripted([json(200, COUNTER)], {
      credentials: async () => {
        throw new Error('Could not load credentials from any providers');
      },
    });

    await expect(client.get('a')).rejects.toThrow(CounterCredentialsError);
    expect(sent).toHaveLength(0);
  });

  it('refuses an answer that is not a counter', async () => {
    const { client } = scripted([json(200, { name: 'a', value: '1' })]);

    await expect(client.get('a')).rejects.toThrow(UnexpectedAnswerError);
  });

  it('lists every page by following Link rel="next", and reads history the same way', async () => {
    const { client, sent } = scripted([
      json(200, [COUNTER], { link: '</counters?prefix=a&limit=1&cursor=c1>; rel="next"' }),
      json(200, [{ ...COUNTER, name: 'ab' }]),
      json(200, [{ version: 1, value: 1, delta: 1, op: 'increment', created_at: 'x', actor: 'arn' }], {
        link: '</counters/a/history?limit=1&cursor=h1>; rel="next"',
      }),
      json(200, [{ version: 2, value: 11, delta: 10, op: 'set', created_at: 'y', actor: 'arn' }]),
    ]);

    const names: string[] = [];
    for await (const counter of client.list({ prefix: 'a', limit: 1 })) names.push(counter.name);
    const versions: number[] = [];
    for await (const entry of client.history('a', { limit: 1 })) versions.push(entry.version);

    expect(names).toEqual(['a', 'ab']);
    expect(versions).toEqual([1, 2]);
    expect(sent.map((request) => request.url)).toEqual([
      'http://127.0.0.1:3000/counters?prefix=a&limit=1',
      'http://127.0.0.1:3000/counters?prefix=a&limit=1&cursor=c1',
      'http://127.0.0.1:3000/counters/a/history?limit=1',
      'http://127.0.0.1:3000/counters/a/history?limit=1&cursor=h1',
    ]);
  });
});

describe('nextLink', () => {
  it('finds rel="next" among several links, and nothing when there is none', () => {
    expect(nextLink('</a?cursor=1>; rel="prev", </a?cursor=3>; rel="next"')).toBe('/a?cursor=3');
    expect(nextLink('</a?cursor=3>; rel=next')).toBe('/a?cursor=3');
    expect(nextLink('</a?cursor=1>; rel="prev"')).toBeUndefined();
    expect(nextLink(null)).toBeUndefined();
  });
});

describe('retryAfter', () => {
  it('reads seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');

    expect(retryAfter('7', now)).toBe(7);
    expect(retryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5);
    expect(retryAfter('soon', now)).toBeUndefined();
    expect(retryAfter(null, now)).toBeUndefined();
  });
});
