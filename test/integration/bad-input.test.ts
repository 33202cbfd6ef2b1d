import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from '../support/api.ts';
import { type ServerProcess, startServer } from '../support/server-process.ts';

// CONTRACT.md section 5: bad input gets a problem+json 4xx that says what was wrong, and changes nothing.
describe('bad input', () => {
  let server: ServerProcess;
  let client: ReturnType<typeof api>;
  const path = '/counters/bad.input';

  beforeAll(async () => {
    server = await startServer();
    client = api(server.url);
    expect((await client.put(path, { body: { value: 7 } })).status).toBe(200);
  });

  afterAll(async () => {
    await server.stop();
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
});
