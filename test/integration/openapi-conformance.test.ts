import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { FaultRule } from '../support/fault-proxy.ts';
import { useEngine } from '../support/local-engine.ts';
import {
  answerViolations,
  document,
  exampleOf,
  requestViolations,
  resolveParameter,
} from '../support/openapi.ts';
import { useServer } from '../support/server-process.ts';
import { type CallOptions, type CallResult, call, eventually } from '../support/signed-client.ts';

// docs/api.md section 6: openapi.json describes every route "matching what the handlers answer". Real
// requests, good and bad, go to the local server; each answer's status must be declared for its
// operation, and its body must validate against the schema declared for that status and content type.

interface Request {
  path: string;
  options?: CallOptions;
}

interface Case {
  /** `METHOD /template` as in openapi.json. */
  operation: string;
  what: string;
  status: number;
  /** The request; made just before it is sent, when it needs a counter of its own. */
  request: Request | (() => Promise<Request>);
  /** A request the API accepts as valid: then the request itself must also match the document. */
  good?: boolean;
  /** Faults for the engine behind the server while this request runs. */
  faults?: FaultRule[];
}

const MAX = Number.MAX_SAFE_INTEGER;
/** Makes a body over the 16 KiB the handlers take. */
const PADDING = 'x'.repeat(17 * 1024);
const unique = (what: string) => `conf.${what}.${randomUUID().slice(0, 8)}`;

describe('openapi.json against the running API', () => {
  const { proxy } = useEngine({ faultProxy: true });
  // One attempt per SDK call, so an injected fault reaches the handler as it would after retries.
  const server = useServer(() => ({ env: { DYNAMODB_ENDPOINT: proxy.url, DYNAMODB_MAX_ATTEMPTS: '1' } }));
  const send = (method: string, path: string, options?: CallOptions) =>
    call(server.url, method, path, options);

  /** A counter at version 1, value `value`. */
  const made = async (what: string, value = 1): Promise<string> => {
    const name = unique(what);
    expect((await send('PUT', `/counters/${name}`, { body: { value } })).status).toBe(200);
    return name;
  };

  /**
   * Leaves a keyed request in flight: its claim is written, but the answer to that write is lost, so the
   * handler fails before it can release it, as when a Lambda dies mid-request.
   */
  const inFlight = async (method: string, path: string, body?: unknown): Promise<Request> => {
    const options = { body, headers: { 'idempotency-key': `conf-${randomUUID()}` } };
    proxy.setRules([{ operation: 'PutItem', fault: 'drop-response' }]);
    try {
      const first = await send(method, path, options);
      expect(first.status, first.text).toBeGreaterThanOrEqual(500);
    } finally {
      proxy.setRules([]);
    }
    return { path, options };
  };

  /** A key used once on a counter of its own with `first`; the case sends it again with `then`. */
  const reused = async (method: string, first: CallOptions, then: CallOptions): Promise<Request> => {
    const path = `/counters/${await made('reuse')}`;
    const key = { 'idempotency-key': `conf-${randomUUID()}` };
    await send(method, path, { ...first, headers: { ...first.headers, ...key } });
    return { path, options: { ...then, headers: { ...then.headers, ...key } } };
  };

  // Every matching call while the request runs: the stream poller shares the engine, and a fault it
  // took instead would leave the request unharmed. The poller retries what it loses.
  const throttle = (operation: string): FaultRule[] => [{ operation, fault: 'throttle' }];
  const lose = (operation: string): FaultRule[] => [{ operation, fault: 'drop-response' }];

  const counter =
    (what: string, value = 1) =>
    async (): Promise<string> =>
      `/counters/${await made(what, value)}`;

  const cases: Case[] = [
    // GET /counters
    {
      operation: 'GET /counters',
      what: 'a page with a Link to the next',
      status: 200,
      good: true,
      request: async () => {
        await made('list');
        await made('list');
        return { path: '/counters?prefix=conf.list.&limit=1' };
      },
    },
    { operation: 'GET /counters', what: 'limit 0', status: 400, request: { path: '/counters?limit=0' } },
    {
      operation: 'GET /counters',
      what: 'a forged cursor',
      status: 400,
      request: { path: '/counters?cursor=forged' },
    },
    {
      operation: 'GET /counters',
      what: 'a throttled read',
      status: 429,
      request: { path: '/counters' },
      faults: throttle('Query'),
    },
    {
      operation: 'GET /counters',
      what: 'a failed read',
      status: 500,
      request: { path: '/counters' },
      faults: lose('Query'),
    },

    // GET /counters/{name}
    {
      operation: 'GET /counters/{name}',
      what: 'a counter',
      status: 200,
      good: true,
      request: async () => ({ path: await counter('get')() }),
    },
    {
      operation: 'GET /counters/{name}',
      what: 'a bad name',
      status: 400,
      request: { path: '/counters/bad%20name' },
    },
    {
      operation: 'GET /counters/{name}',
      what: 'no such counter',
      status: 404,
      request: { path: `/counters/${unique('absent')}` },
    },
    {
      operation: 'GET /counters/{name}',
      what: 'a throttled read',
      status: 429,
      request: { path: '/counters/conf.any' },
      faults: throttle('GetItem'),
    },
    {
      operation: 'GET /counters/{name}',
      what: 'a failed read',
      status: 500,
      request: { path: '/counters/conf.any' },
      faults: lose('GetItem'),
    },

    // POST /counters/{name}
    {
      operation: 'POST /counters/{name}',
      what: 'no body',
      status: 200,
      good: true,
      request: { path: `/counters/${unique('inc')}` },
    },
    {
      operation: 'POST /counters/{name}',
      what: '{"by": -5} with an Idempotency-Key',
      status: 200,
      good: true,
      request: {
        path: `/counters/${unique('inc')}`,
        options: { body: { by: -5 }, headers: { 'Idempotency-Key': `conf-${randomUUID()}` } },
      },
    },
    {
      operation: 'POST /counters/{name}',
      what: 'If-Match the current version',
      status: 200,
      good: true,
      request: async () => ({ path: await counter('inc')(), options: { headers: { 'If-Match': '"1"' } } }),
    },
    {
      operation: 'POST /counters/{name}',
      what: 'a fraction',
      status: 400,
      request: { path: '/counters/conf.inc', options: { rawBody: '{"by": 1.5}' } },
    },
    {
      operation: 'POST /counters/{name}',
      what: 'past the range',
      status: 409,
      request: async () => ({ path: await counter('range', MAX)() }),
    },
    {
      operation: 'POST /counters/{name}',
      what: 'a keyed request still in flight',
      status: 409,
      request: () => inFlight('POST', `/counters/${unique('flight')}`, { by: 2 }),
    },
    {
      operation: 'POST /counters/{name}',
      what: 'If-Match another version',
      status: 412,
      request: async () => ({ path: await counter('inc')(), options: { headers: { 'If-Match': '"7"' } } }),
    },
    {
      operation: 'POST /counters/{name}',
      what: 'a body over 16 KiB',
      status: 413,
      request: {
        path: '/counters/conf.big',
        options: { rawBody: JSON.stringify({ by: 1, padding: PADDING }) },
      },
    },
    {
      operation: 'POST /counters/{name}',
      what: 'an Idempotency-Key reused for another request',
      status: 422,
      request: () => reused('POST', { body: { by: 1 } }, { body: { by: 2 } }),
    },
    {
      operation: 'POST /counters/{name}',
      what: 'a throttled write',
      status: 429,
      request: { path: '/counters/conf.throttled' },
      faults: throttle('UpdateItem'),
    },
    {
      operation: 'POST /counters/{name}',
      what: "a body over API Gateway's 10 MiB",
      status: 413,
      request: { path: '/counters/conf.huge', options: { rawBody: 'x'.repeat(10 * 1024 * 1024 + 1) } },
    },

    // PUT /counters/{name}
    {
      operation: 'PUT /counters/{name}',
      what: 'a value',
      status: 200,
      good: true,
      request: { path: `/counters/${unique('set')}`, options: { body: { value: 10 } } },
    },
    {
      operation: 'PUT /counters/{name}',
      what: 'If-Match "0": only if it does not exist yet',
      status: 200,
      good: true,
      request: {
        path: `/counters/${unique('set')}`,
        options: { body: { value: 3 }, headers: { 'If-Match': '"0"' } },
      },
    },
    {
      operation: 'PUT /counters/{name}',
      what: 'a string',
      status: 400,
      request: { path: '/counters/conf.set', options: { rawBody: '{"value": "10"}' } },
    },
    {
      operation: 'PUT /counters/{name}',
      what: 'no body',
      status: 400,
      request: { path: '/counters/conf.set' },
    },
    {
      operation: 'PUT /counters/{name}',
      what: 'a keyed request still in flight',
      status: 409,
      request: () => inFlight('PUT', `/counters/${unique('flight')}`, { value: 4 }),
    },
    {
      operation: 'PUT /counters/{name}',
      what: 'If-Match another version',
      status: 412,
      request: async () => ({
        path: await counter('set')(),
        options: { body: { value: 2 }, headers: { 'If-Match': '"9"' } },
      }),
    },
    {
      operation: 'PUT /counters/{name}',
      what: 'a body over 16 KiB',
      status: 413,
      request: {
        path: '/counters/conf.big',
        options: { rawBody: JSON.stringify({ value: 1, padding: PADDING }) },
      },
    },
    {
      operation: 'PUT /counters/{name}',
      what: 'an Idempotency-Key reused for another request',
      status: 422,
      request: () => reused('PUT', { body: { value: 1 } }, { body: { value: 2 } }),
    },

    // DELETE /counters/{name}
    {
      operation: 'DELETE /counters/{name}',
      what: 'a counter',
      status: 204,
      good: true,
      request: async () => ({ path: await counter('delete')() }),
    },
    {
      operation: 'DELETE /counters/{name}',
      what: 'no such counter',
      status: 404,
      request: { path: `/counters/${unique('absent')}` },
    },
    {
      operation: 'DELETE /counters/{name}',
      what: 'a malformed If-Match',
      status: 400,
      request: async () => ({
        path: await counter('delete')(),
        options: { headers: { 'If-Match': 'W/"1"' } },
      }),
    },
    {
      operation: 'DELETE /counters/{name}',
      what: 'a keyed request still in flight',
      status: 409,
      request: async () => inFlight('DELETE', await counter('delete')()),
    },
    {
      operation: 'DELETE /counters/{name}',
      what: 'If-Match another version',
      status: 412,
      request: async () => ({ path: await counter('delete')(), options: { headers: { 'If-Match': '"5"' } } }),
    },
    {
      operation: 'DELETE /counters/{name}',
      what: 'an Idempotency-Key reused for another request',
      status: 422,
      // The first use is refused (412), and a refusal is an answer the key keeps too.
      request: () => reused('DELETE', { headers: { 'If-Match': '"3"' } }, {}),
    },

    // GET /counters/{name}/history
    {
      operation: 'GET /counters/{name}/history',
      what: 'a page with a Link to the next',
      status: 200,
      good: true,
      request: async () => {
        const path = await counter('history')();
        await send('POST', path);
        await eventually(async () => {
          const page = await send('GET', `${path}/history`);
          return Array.isArray(page.json) && page.json.length === 2 ? true : undefined;
        });
        return { path: `${path}/history?limit=1` };
      },
    },
    {
      operation: 'GET /counters/{name}/history',
      what: 'limit 0',
      status: 400,
      request: { path: '/counters/conf.any/history?limit=0' },
    },
    {
      operation: 'GET /counters/{name}/history',
      what: 'no such counter',
      status: 404,
      request: { path: `/counters/${unique('absent')}/history` },
    },

    {
      operation: 'GET /counters/{name}/history',
      what: 'a time window',
      status: 200,
      good: true,
      request: async () => ({
        path: `${await counter('window')()}/history?since=2026-01-01T00:00:00Z&until=2099-01-01T00:00:00Z`,
      }),
    },
    {
      operation: 'GET /counters/{name}/history',
      what: 'a time that is not UTC',
      status: 400,
      request: { path: '/counters/conf.any/history?since=2026-01-01T00:00:00' },
    },

    // GET /counters/{name}/series
    {
      operation: 'GET /counters/{name}/series',
      what: 'the hourly buckets',
      status: 200,
      good: true,
      request: async () => {
        const path = await counter('series')();
        await eventually(async () => {
          const page = await send('GET', `${path}/series?interval=hour`);
          return Array.isArray(page.json) && page.json.length === 1 ? true : undefined;
        });
        return { path: `${path}/series?interval=hour&limit=10` };
      },
    },
    {
      operation: 'GET /counters/{name}/series',
      what: 'an unknown interval',
      status: 400,
      request: { path: '/counters/conf.any/series?interval=week' },
    },
    {
      operation: 'GET /counters/{name}/series',
      what: 'no such counter',
      status: 404,
      request: { path: `/counters/${unique('absent')}/series?interval=day` },
    },

    // The seed's routes: the counter `default`.
    {
      operation: 'GET /counter',
      what: 'the default counter',
      status: 200,
      good: true,
      request: { path: '/counter' },
    },
    { operation: 'POST /counter', what: 'no body', status: 200, good: true, request: { path: '/counter' } },
    {
      operation: 'POST /counter',
      what: 'a fraction',
      status: 400,
      request: { path: '/counter', options: { rawBody: '{"by": 0.5}' } },
    },
    {
      operation: 'POST /counter',
      what: 'If-Match another version',
      status: 412,
      request: { path: '/counter', options: { headers: { 'If-Match': '"123456"' } } },
    },
    {
      operation: 'PUT /counter',
      what: 'a value',
      status: 200,
      good: true,
      request: { path: '/counter', options: { body: { value: 7 } } },
    },
    {
      operation: 'PUT /counter',
      what: 'an unknown field',
      status: 400,
      request: { path: '/counter', options: { body: { value: 7, extra: 1 } } },
    },
    {
      operation: 'GET /counter/history',
      what: 'its changes',
      status: 200,
      good: true,
      request: { path: '/counter/history' },
    },
    {
      operation: 'GET /counter/history',
      what: 'a cursor from before `default` was deleted',
      status: 404,
      request: async () => {
        await send('PUT', '/counter', { body: { value: 1 } });
        await send('PUT', '/counter', { body: { value: 2 } });
        const link = await eventually(async () => {
          const page = await send('GET', '/counter/history?limit=1');
          return /<([^>]+)>;\s*rel="next"/.exec(page.headers.get('link') ?? '')?.[1];
        });
        expect((await send('DELETE', '/counters/default')).status).toBe(204);
        return { path: link };
      },
    },
    {
      operation: 'GET /counter/history',
      what: 'limit 0',
      status: 400,
      request: { path: '/counter/history?limit=0' },
    },
  ];

  // A GET the cases above do not drive (a route added later) is driven with its required query
  // parameters made from their schemas, on a counter made for it: it must answer 200 as declared.
  const drivenGood = new Set(cases.filter((entry) => entry.good === true).map((entry) => entry.operation));
  for (const [template, operations] of Object.entries(document.paths)) {
    const op = operations.get;
    if (op === undefined || drivenGood.has(`GET ${template}`)) continue;
    const query = new URLSearchParams();
    for (const entry of (op.parameters ?? []).map(resolveParameter)) {
      if (entry.in === 'query' && entry.required === true) query.set(entry.name, exampleOf(entry.schema));
    }
    const suffix = query.size === 0 ? '' : `?${query.toString()}`;
    cases.push({
      operation: `GET ${template}`,
      what: 'required parameters only',
      status: 200,
      good: true,
      request: async () => {
        const name = template.includes('{name}') ? await made('generic') : '';
        return { path: `${template.replace('{name}', name)}${suffix}` };
      },
    });
  }

  // Every operation, unsigned: API Gateway's 403 must be declared too.
  for (const [template, operations] of Object.entries(document.paths)) {
    for (const method of Object.keys(operations)) {
      cases.push({
        operation: `${method.toUpperCase()} ${template}`,
        what: 'unsigned',
        status: 403,
        request: { path: template.replace('{name}', 'conf.unsigned'), options: { unsigned: true } },
      });
    }
  }

  for (const entry of cases) {
    it(`${entry.operation}: ${entry.what} answers ${entry.status} as declared`, async () => {
      const { path, options = {} } =
        typeof entry.request === 'function' ? await entry.request() : entry.request;
      proxy.setRules(entry.faults ?? []);
      let answer: CallResult;
      try {
        answer = await send(entry.operation.split(' ')[0] ?? '', path, options);
      } finally {
        proxy.setRules([]);
      }

      expect(answer.status, answer.text).toBe(entry.status);
      expect(answerViolations(entry.operation, answer)).toEqual([]);
      if (entry.good === true) expect(requestViolations(entry.operation, path, options)).toEqual([]);
    });
  }

  it('drives every operation of the document with at least one request it accepts', () => {
    const driven = new Set(cases.filter((entry) => entry.good === true).map((entry) => entry.operation));
    const described = Object.entries(document.paths).flatMap(([template, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${template}`),
    );

    expect(described.filter((key) => !driven.has(key))).toEqual([]);
  });
});
