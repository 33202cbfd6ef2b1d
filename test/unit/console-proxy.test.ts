import { describe, expect, it } from 'vitest';
import { ConsoleProblem, toBrowser, toUpstream } from '../../console/proxy.ts';

const request = (
  method: string,
  target: string,
  headers: Record<string, string> = {},
  body: string | undefined = undefined,
) => toUpstream({ method, target, headers, body });

const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConsoleProblem) return { status: error.status, detail: error.detail };
    throw error;
  }
  throw new Error('not refused');
};

const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = body === undefined ? '' : JSON.stringify(body);
  return { status, headers: new Headers(headers), body, text };
};

describe('console proxy: what a call of the console API sends to the service', () => {
  it('sends reads on with only the query parameters the route takes, the name re-encoded', () => {
    expect(request('GET', '/api/counters?prefix=a%2Bb&limit=10')).toMatchObject({
      method: 'GET',
      path: '/counters?prefix=a%2Bb&limit=10',
      headers: {},
      consolePath: '/api/counters',
    });
    expect(
      request('GET', '/api/counters/page%3Aviews/series?interval=hour&since=2026-01-01T00:00:00Z'),
    ).toMatchObject({
      path: '/counters/page%3Aviews/series?interval=hour&since=2026-01-01T00%3A00%3A00Z',
    });
    expect(request('GET', '/api/counters/x/history?cursor=abc&limit=20').path).toBe(
      '/counters/x/history?cursor=abc&limit=20',
    );
  });

  it('gives every change an idempotency key unless the page sent one, and passes If-Match on', () => {
    const generated = request('POST', '/api/counters/x', { 'content-type': 'application/json' }, '{"by":2}');
    const given = request(
      'PUT',
      '/api/counters/x',
      {
        'content-type': 'application/json; charset=utf-8',
        'if-match': '"3"',
        'idempotency-key': 'page-key-1',
      },
      '{"value":5}',
    );

    expect(generated).toMatchObject({ method: 'POST', path: '/counters/x', body: { by: 2 } });
    expect(generated.headers['idempotency-key']).toMatch(/^counter-console:[0-9a-f-]{36}$/);
    expect(given).toMatchObject({
      headers: { 'if-match': '"3"', 'idempotency-key': 'page-key-1' },
      body: { value: 5 },
    });
    expect(request('DELETE', '/api/counters/x').headers['idempotency-key']).toBeDefined();
  });

  it('passes values on for the service to judge, so its own problem comes back', () => {
    expect(
      request('POST', '/api/counters/x', { 'content-type': 'application/json' }, '{"by":1.5}').body,
    ).toEqual({
      by: 1.5,
    });
    expect(request('GET', '/api/counters?limit=100000').path).toBe('/counters?limit=100000');
  });

  it('refuses what no route of the service takes, before anything is signed', () => {
    expect(refusal(() => request('GET', '/api/counter'))).toMatchObject({ status: 404 });
    expect(refusal(() => request('GET', '/api/counters/a/b/c'))).toMatchObject({ status: 404 });
    expect(refusal(() => request('POST', '/api/counters'))).toMatchObject({ status: 405 });
    expect(refusal(() => request('DELETE', '/api/counters/x/history'))).toMatchObject({ status: 405 });
    expect(refusal(() => request('GET', '/api/counters?admin=1'))).toMatchObject({
      status: 400,
      detail: 'Unknown query parameter "admin" (allowed: prefix, limit, cursor).',
    });
    expect(refusal(() => request('GET', '/api/counters?limit=1&limit=2'))).toMatchObject({ status: 400 });
    expect(refusal(() => request('GET', `/api/counters?cursor=${'a'.repeat(3000)}`))).toMatchObject({
      status: 400,
    });
    expect(refusal(() => request('GET', '/api/counters/%E0%A4%A'))).toMatchObject({ status: 400 });
    // `..` in a path, encoded or not, is resolved away like any URL's: it can never climb out of /api.
    expect(refusal(() => request('GET', '/api/counters/..'))).toMatchObject({ status: 404 });
    expect(refusal(() => request('GET', '/api/counters/%2E%2E/x'))).toMatchObject({ status: 404 });
    // An encoded slash stays inside the name, for the service to refuse by its naming rule.
    expect(request('GET', '/api/counters/a%2F..%2F..%2Fhealth').path).toBe('/counters/a%2F..%2F..%2Fhealth');
  });

  it('refuses bodies that are not JSON, sent as another type, or sent where none belongs', () => {
    expect(
      refusal(() => request('POST', '/api/counters/x', { 'content-type': 'application/json' }, '{by:1')),
    ).toEqual({
      status: 400,
      detail: 'The body is not valid JSON.',
    });
    expect(
      refusal(() => request('POST', '/api/counters/x', { 'content-type': 'text/plain' }, '{"by":1}')),
    ).toMatchObject({
      status: 415,
    });
    expect(
      refusal(() => request('DELETE', '/api/counters/x', { 'content-type': 'application/json' }, '{}')),
    ).toMatchObject({
      status: 400,
    });
    expect(
      refusal(() =>
        request(
          'PUT',
          '/api/counters/x',
          { 'if-match': '"1"\u0007', 'content-type': 'application/json' },
          '{}',
        ),
      ),
    ).toMatchObject({ status: 400 });
    expect(
      refusal(() => request('POST', '/api/counters/x', { 'idempotency-key': 'k'.repeat(256) })),
    ).toMatchObject({
      status: 400,
    });
  });
});

describe('console proxy: what the page gets back', () => {
  const upstream = request('GET', '/api/counters/x/history?limit=2');

  it("points the next-page link at the console's own route, and keeps the headers the page uses", () => {
    const browser = toBrowser(
      answer(200, [{ version: 1 }], {
        link: '</counters/x/history?limit=2&cursor=abc>; rel="next"',
        etag: '"3"',
        'content-type': 'application/json',
        'x-amz-secret-looking-thing': 'dropped',
      }),
      upstream,
    );

    expect(browser).toEqual({
      status: 200,
      headers: {
        etag: '"3"',
        link: '</api/counters/x/history?limit=2&cursor=abc>; rel="next"',
        'content-type': 'application/json',
      },
      body: '[{"version":1}]',
    });
  });

  it("passes the service's problems on as they are, and turns API Gateway's message into one", () => {
    const problem = {
      type: '/problems/version-mismatch',
      title: 'Precondition Failed',
      status: 412,
      detail: 'x is at version 4, not 3.',
    };
    const refused = toBrowser(answer(412, problem, { 'content-type': 'application/problem+json' }), upstream);
    const forbidden = toBrowser(answer(403, { message: 'Forbidden' }), upstream);

    expect(refused).toMatchObject({ status: 412, headers: { 'content-type': 'application/problem+json' } });
    expect(JSON.parse(refused.body)).toEqual(problem);
    expect(forbidden.status).toBe(403);
    expect(JSON.parse(forbidden.body)).toEqual({
      type: 'about:blank',
      title: 'Forbidden',
      status: 403,
      detail: 'Forbidden',
    });
  });
});
