import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { useServer } from '../support/server-process.ts';

/** Text a caller might put in any query parameter: words, numbers at the edges, JSON, near-instants. */
const anyText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc
    .oneof(
      fc.integer(),
      fc.double(),
      fc.constantFrom(0, -0, 1, -1, 2 ** 53, 2 ** 53 - 1, 2 ** 53 + 2, 1e21, 1e300, 1440, 1441, 1000, 1001),
    )
    .map(String),
  fc.jsonValue({ maxDepth: 2 }).map((value) => JSON.stringify(value)),
  fc.date({ noInvalidDate: true }).map((date) => date.toISOString()),
  fc
    .date({
      min: new Date('0000-01-01T00:00:00Z'),
      max: new Date('9999-12-31T23:59:59.999Z'),
      noInvalidDate: true,
    })
    .map((date) => `${date.toISOString().slice(0, 16)}Z`),
  fc.constantFrom(
    '0000-01-01T00:00:00Z',
    '9999-12-31T23:59:59.999Z',
    '2026-02-30T00:00:00Z',
    '2026-11-30T24:00Z',
  ),
);

/** Numbers a cursor might carry: ordinary, fractional, and at and past the edges of the exact range. */
const anyNumber = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(2 ** 53 - 1, 2 ** 53 - 2, 2 ** 53 - 150, 2 ** 53, 1e300, 0, -1) },
  fc.integer(),
  fc.double(),
  fc.maxSafeInteger(),
);

const encode = (position: unknown) => Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');

/**
 * Cursors: any text, any JSON, and positions of each listing's shape, mostly of the route's own (`own`),
 * with the counter's real incarnation (taken from a Link), so that they pass the checks that come
 * before the reads and reach them.
 */
function anyCursor(incarnation: string, own: 'list' | 'history' | 'series'): fc.Arbitrary<string> {
  const bucketish = fc.oneof(
    fc.date({ noInvalidDate: true }).map((date) => `${date.toISOString().slice(0, 16)}:00.000Z`),
    fc.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00\.000Z$/),
    fc.constantFrom('9999-12-31T23:59:00.000Z', '0000-01-01T00:00:00.000Z', '2026-11-30T10:00:00.000Z'),
    anyText,
  );
  const realOrNot = fc.oneof({ weight: 4, arbitrary: fc.constant(incarnation) }, anyText);
  // Any code point, lone surrogates and NUL included: JSON carries them, DynamoDB refuses some.
  const anyCodePoints = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 6 }),
    fc.constantFrom('\ud800', 'fz.\udfff', '\u0000', 'fz.a#1', 'fz.a b', '.', '..'),
  );
  const shapes = {
    history: fc.record({ i: realOrNot, v: fc.oneof({ weight: 3, arbitrary: anyNumber }, fc.jsonValue()) }),
    series: fc.record({ i: realOrNot, s: bucketish }),
    list: fc.record({
      p: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('', 'fz.') }, anyText),
      a: fc.oneof(fc.constant('fz.a'), anyText, { weight: 2, arbitrary: anyCodePoints }),
    }),
  };
  return fc.oneof(
    anyText,
    fc.jsonValue({ maxDepth: 3 }).map(encode),
    ...Object.entries(shapes).map(([shape, position]) => ({
      weight: shape === own ? 6 : 1,
      arbitrary: position.map(encode),
    })),
  );
}

/** Mostly a valid value, so the request gets past it to the parameters under test; sometimes anything. */
const mostly = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 2, arbitrary: valid.map(String) }, { weight: 1, arbitrary: anyText });

/** An instant the API accepts, often one whose window holds every change, so the request reads on. */
const instant = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom('2000-01-01T00:00:00Z', '2100-01-01T00:00Z') },
  fc
    .date({
      min: new Date('2000-01-01T00:00:00Z'),
      max: new Date('2100-01-01T00:00:00Z'),
      noInvalidDate: true,
    })
    .map((date) => date.toISOString()),
);

/** Each parameter present or not; half the time with a cursor for certain. */
function parameters(
  spec: Record<string, fc.Arbitrary<string>>,
  required: string[] = [],
): fc.Arbitrary<Record<string, string>> {
  return fc.oneof(
    fc.record(spec, { requiredKeys: required }),
    fc.record(spec, { requiredKeys: [...required, 'cursor'] }),
  );
}

// docs/api.md section 5: bad input gets a problem+json 4xx that says what was wrong, and changes nothing.
describe('bad input', () => {
  const { client } = useServer();
  const path = '/counters/bad.input';

  beforeAll(async () => {
    expect((await client.put(path, { body: { value: 7 } })).status).toBe(200);
  });

  const cases: {
    what: string;
    method: string;
    target?: string;
    rawBody?: string;
    status: number;
    detail: RegExp;
  }[] = [
    { what: 'a fraction', method: 'PUT', rawBody: '{"value": 1.5}', status: 400, detail: /whole number/ },
    {
      what: 'a string',
      method: 'PUT',
      rawBody: '{"value": "10"}',
      status: 400,
      detail: /whole number.*string/,
    },
    { what: 'an exponent', method: 'PUT', rawBody: '{"value": 1e3}', status: 400, detail: /exponent/ },
    { what: 'null', method: 'PUT', rawBody: '{"value": null}', status: 400, detail: /null/ },
    {
      what: 'one past the range',
      method: 'PUT',
      rawBody: '{"value": 9007199254740992}',
      status: 400,
      detail: /9007199254740991/,
    },
    {
      what: 'one below the range',
      method: 'PUT',
      rawBody: '{"value": -9007199254740992}',
      status: 400,
      detail: /9007199254740991/,
    },
    {
      what: 'a written-out fraction',
      method: 'PUT',
      rawBody: '{"value": 10.0}',
      status: 400,
      detail: /fraction/,
    },
    { what: 'malformed JSON', method: 'PUT', rawBody: '{"value": ', status: 400, detail: /not valid JSON/ },
    { what: 'a missing field', method: 'PUT', rawBody: '{}', status: 400, detail: /value is required/ },
    { what: 'no body on a set', method: 'PUT', rawBody: '', status: 400, detail: /required/ },
    {
      what: 'an unknown field',
      method: 'PUT',
      rawBody: '{"value": 1, "by": 2}',
      status: 400,
      detail: /unknown field/,
    },
    { what: 'an array body', method: 'PUT', rawBody: '[1]', status: 400, detail: /JSON object/ },
    {
      what: 'a fractional increment',
      method: 'POST',
      rawBody: '{"by": 0.5}',
      status: 400,
      detail: /whole number/,
    },
    {
      what: 'a string increment',
      method: 'POST',
      rawBody: '{"by": "1"}',
      status: 400,
      detail: /whole number/,
    },
    {
      what: 'an increment past the range',
      method: 'POST',
      rawBody: '{"by": 9007199254740992}',
      status: 400,
      detail: /range|9007199254740991/,
    },
    {
      what: 'an unknown increment field',
      method: 'POST',
      rawBody: '{"value": 1}',
      status: 400,
      detail: /unknown field/,
    },
    {
      what: 'a body over 16 KiB',
      method: 'POST',
      rawBody: `{"by": 1, "pad": "${'x'.repeat(17 * 1024)}"}`,
      status: 413,
      detail: /16384 bytes/,
    },
    {
      what: 'an increment that leaves the range',
      method: 'POST',
      rawBody: '{"by": 9007199254740991}',
      status: 409,
      detail: /range/,
    },
    { what: 'a stale If-Match', method: 'POST', rawBody: '', status: 412, detail: /version/ },
  ];

  for (const testCase of cases) {
    it(`answers ${testCase.what} with ${testCase.status} problem+json and changes nothing`, async () => {
      const before = await client.counter(path);
      const headers: Record<string, string> = testCase.status === 412 ? { 'if-match': '"999"' } : {};

      const response = await client.send(testCase.method, testCase.target ?? path, {
        rawBody: testCase.rawBody,
        headers: { 'content-type': 'application/json', ...headers },
      });

      expect(response.status, response.text).toBe(testCase.status);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(response.json).toMatchObject({
        status: testCase.status,
        title: expect.any(String),
        type: expect.any(String),
      });
      expect((response.json as { detail: string }).detail).toMatch(testCase.detail);
      expect(await client.counter(path)).toEqual(before);
    });
  }

  const badTargets: { what: string; method: string; target: string }[] = [
    { what: 'a name with a space', method: 'POST', target: '/counters/a%20b' },
    { what: 'a name over 128 characters', method: 'PUT', target: `/counters/${'n'.repeat(129)}` },
    { what: 'a name with a non-ASCII letter', method: 'POST', target: '/counters/caf%C3%A9' },
    { what: 'a zero list limit', method: 'GET', target: '/counters?limit=0' },
    { what: 'a list limit over the maximum', method: 'GET', target: '/counters?limit=101' },
    { what: 'a non-numeric history limit', method: 'GET', target: `${path}/history?limit=ten` },
    { what: 'an unknown query parameter', method: 'GET', target: '/counters?sort=desc' },
    { what: 'a bad prefix', method: 'GET', target: '/counters?prefix=a%2Fb' },
    { what: 'a forged cursor', method: 'GET', target: `${path}/history?cursor=eyJpIjoieCIsInYiOjF9` },
    { what: 'a garbage cursor', method: 'GET', target: '/counters?cursor=not-a-cursor' },
  ];

  for (const testCase of badTargets) {
    it(`answers ${testCase.what} with 400 problem+json`, async () => {
      const before = await client.counter(path);

      const response = await client.send(testCase.method, testCase.target, {
        rawBody: testCase.method === 'PUT' ? '{"value": 1}' : undefined,
      });

      expect(response.status, response.text).toBe(400);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect((response.json as { detail: string }).detail.length).toBeGreaterThan(10);
      expect(await client.counter(path)).toEqual(before);
    });
  }

  it('answers an unsigned request with 403 Forbidden as API Gateway does', async () => {
    const response = await client.post(path, { unsigned: true });

    expect(response.status).toBe(403);
    expect(response.json).toEqual({ message: 'Forbidden' });
    expect((await client.counter(path)).value).toBe(7);
  });

  it('answers a request signed with the wrong secret with 403', async () => {
    const response = await client.post(path, {
      credentials: { accessKeyId: 'local', secretAccessKey: 'nope' },
    });

    expect(response.status).toBe(403);
    expect(response.json).toEqual({ message: 'Forbidden' });
  });

  it('answers a signature ten minutes old with 403', async () => {
    const response = await client.post(path, { signingDate: new Date(Date.now() - 10 * 60 * 1000) });

    expect(response.status).toBe(403);
  });

  it('answers an unknown route with 404 as API Gateway does', async () => {
    const response = await client.get('/nothing/here');

    expect(response.status).toBe(404);
    expect(response.json).toEqual({ message: 'Not Found' });
  });

  // The property: whatever a caller puts in the cursor and query parameters of every route that
  // takes them, over real HTTP and SigV4, the answer is never a 5xx, and nothing changes.
  describe('any query parameters and cursors', () => {
    let incarnation = '';

    /** Every counter as the listing shows it, for "nothing changed". */
    const everything = () => client.all<unknown>('/counters?limit=100');

    beforeAll(async () => {
      for (const by of [1, 2, 3])
        expect((await client.post('/counters/fz.a', { body: { by } })).status).toBe(200);
      expect((await client.post('/counters/fz.b')).status).toBe(200);
      await client.historyOf('/counters/fz.a', 3);
      const link = (await client.get('/counters/fz.a/history?limit=1')).headers.get('link') ?? '';
      const cursor = /cursor=([A-Za-z0-9_-]+)/.exec(link)?.[1] ?? '';
      incarnation = String(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')).i);
      expect(incarnation).not.toBe('');
    });

    const routes: { route: string; path: string; query: () => fc.Arbitrary<Record<string, string>> }[] = [
      {
        route: 'GET /counters',
        path: '/counters',
        query: () =>
          parameters({
            prefix: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('', 'fz.') }, anyText),
            limit: mostly(fc.integer({ min: 1, max: 100 })),
            cursor: anyCursor(incarnation, 'list'),
            // Not a parameter of the route.
            sort: anyText,
          }),
      },
      ...['/counters/fz.a/history', '/counter/history'].map((path) => ({
        route: `GET ${path}`,
        path,
        query: () =>
          parameters({
            limit: mostly(fc.integer({ min: 1, max: 1000 })),
            cursor: anyCursor(incarnation, 'history'),
            since: mostly(instant),
            until: mostly(instant),
          }),
      })),
      {
        route: 'GET /counters/{name}/series',
        path: '/counters/fz.a/series',
        query: () =>
          parameters(
            {
              interval: mostly(fc.constantFrom('minute', 'hour', 'day')),
              limit: mostly(fc.integer({ min: 1, max: 1440 })),
              cursor: anyCursor(incarnation, 'series'),
              since: mostly(instant),
              until: mostly(instant),
            },
            ['interval'],
          ),
      },
    ];

    it.each([
      ['a history position at the edge of the exact range', '/counters/fz.a/history', { v: 2 ** 53 - 1 }],
      ['a history position past the counter', '/counters/fz.a/history', { v: 4 }],
      [
        'a series position that is no instant',
        '/counters/fz.a/series?interval=minute',
        { s: '2026-99-99T99:99:00.000Z' },
      ],
      [
        'a series position inside an hour',
        '/counters/fz.a/series?interval=hour',
        { s: '2026-11-30T10:01:00.000Z' },
      ],
      ['a list position with a lone surrogate', '/counters', { p: '', a: '\ud800' }],
      ['a list position with a character no name has', '/counters', { p: '', a: 'fz.a#1' }],
    ])(
      'answers a cursor with %s, which the service never issues, with 400',
      async (_what, path, position) => {
        const withIncarnation = 'p' in position ? position : { i: incarnation, ...position };

        const response = await client.get(
          `${path}${path.includes('?') ? '&' : '?'}cursor=${encode(withIncarnation)}`,
        );

        expect(response.status, response.text).toBe(400);
        expect(response.json).toMatchObject({ detail: expect.stringMatching(/cursor/) });
      },
    );

    it('answers a series position past until with an empty page, not a read with crossed bounds', async () => {
      const cursor = encode({ i: incarnation, s: '2025-01-01T00:00:00.000Z' });

      const response = await client.get(
        `/counters/fz.a/series?interval=minute&until=2020-01-01T00:00:00Z&cursor=${cursor}`,
      );

      expect(response.status, response.text).toBe(200);
      expect(response.json).toEqual([]);
    });

    for (const { route, path, query } of routes) {
      it(`${route} answers anything with 200, 400 or 404, never 5xx, and changes nothing`, async () => {
        const before = await everything();
        const statuses = new Set<number>();

        await fc.assert(
          fc.asyncProperty(query(), async (parameters) => {
            // Percent-encoded as SigV4 clients send it (URLSearchParams' `+` for a space is form encoding).
            const text = Object.entries(parameters)
              .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
              .join('&');
            const response = await client.get(`${path}?${text}`);

            statuses.add(response.status);
            // 403 would mean the request never reached the handler (a signing mismatch): no test at all.
            expect([200, 400, 404], `${JSON.stringify(parameters)}: ${response.text}`).toContain(
              response.status,
            );
            if (response.status !== 200) {
              expect(response.headers.get('content-type')).toBe('application/problem+json');
            }
          }),
          { numRuns: 150 },
        );

        expect(await everything()).toEqual(before);
        expect(statuses).toContain(400);
      });
    }
  });
});
