import { describe, expect, it } from 'vitest';
import { CORS_ALLOW_HEADERS, CORS_ALLOW_METHODS, CORS_EXPOSE_HEADERS } from '../../lib/cors.ts';
import { startServer, useServer } from '../support/server-process.ts';
import { call } from '../support/signed-client.ts';

const APP = 'https://app.example.com';
const STRANGER = 'https://evil.example.net';

/** The CORS headers of an answer; none means a browser keeps the answer from the page. */
function corsHeaders(headers: Headers): Record<string, string> {
  return Object.fromEntries([...headers.entries()].filter(([name]) => name.startsWith('access-control-')));
}

/** A browser's preflight: unsigned, announcing the method and headers of the call to come. */
async function preflight(baseUrl: string, origin: string, method = 'POST'): Promise<Response> {
  const response = await fetch(`${baseUrl}/counters/cors-page`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': method,
      'access-control-request-headers': 'authorization,content-type,x-amz-date,idempotency-key',
    },
  });
  await response.arrayBuffer();
  return response;
}

describe('CORS with LOCAL_CORS_ORIGINS set', () => {
  const server = useServer({ env: { LOCAL_CORS_ORIGINS: `${APP}, http://localhost:5173` } });

  it('answers an allowed origin preflight unsigned with 204 and the stack methods, headers and max age', async () => {
    const response = await preflight(server.url, APP);

    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(APP);
    expect(response.headers.get('access-control-allow-methods')?.split(',')).toEqual([...CORS_ALLOW_METHODS]);
    expect(response.headers.get('access-control-allow-headers')?.split(',')).toEqual([...CORS_ALLOW_HEADERS]);
    expect(response.headers.get('access-control-max-age')).toBe('3600');
    expect(response.headers.get('vary')).toBe('origin');
  });

  it('answers each listed origin with that origin, never another', async () => {
    const response = await preflight(server.url, 'http://localhost:5173', 'DELETE');

    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
  });

  it('gives a preflight from an unlisted origin no CORS headers', async () => {
    const response = await preflight(server.url, STRANGER);

    expect(corsHeaders(response.headers)).toEqual({});
  });

  it('lets an allowed origin read a signed answer and its exposed headers', async () => {
    const response = await call(server.url, 'POST', '/counters/cors-page', {
      headers: { origin: APP, 'idempotency-key': 'cors-1' },
    });

    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe(APP);
    expect(response.headers.get('access-control-expose-headers')?.split(',')).toEqual([
      ...CORS_EXPOSE_HEADERS,
    ]);
    expect(response.headers.get('vary')).toBe('origin');
    expect(response.headers.get('x-request-id')).not.toBeNull();
  });

  it('gives a signed call from an unlisted origin its answer but no CORS headers', async () => {
    const response = await call(server.url, 'GET', '/counters/cors-page', { headers: { origin: STRANGER } });

    expect(response.status).toBe(200);
    expect(corsHeaders(response.headers)).toEqual({});
  });

  it('still refuses an unsigned call from an allowed origin with 403, readable by the page', async () => {
    const response = await call(server.url, 'POST', '/counters/cors-page', {
      headers: { origin: APP },
      unsigned: true,
    });

    expect(response.status).toBe(403);
    expect(response.json).toEqual({ message: 'Forbidden' });
    expect(response.headers.get('access-control-allow-origin')).toBe(APP);
  });
});

describe('CORS by default (LOCAL_CORS_ORIGINS unset)', () => {
  const server = useServer();

  it('answers OPTIONS 404 Not Found with no CORS headers, as API Gateway does without CORS', async () => {
    const response = await fetch(`${server.url}/counters/cors-page`, {
      method: 'OPTIONS',
      headers: { origin: APP, 'access-control-request-method': 'POST' },
    });

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ message: 'Not Found' });
    expect(corsHeaders(response.headers)).toEqual({});
  });

  it('adds no CORS headers to answers, whatever the origin', async () => {
    const response = await call(server.url, 'POST', '/counters/cors-page', { headers: { origin: APP } });

    expect(response.status).toBe(200);
    expect(corsHeaders(response.headers)).toEqual({});
    expect(response.headers.get('vary')).toBeNull();
  });
});

describe('LOCAL_CORS_ORIGINS', () => {
  it('refuses to start the server with "*", naming the reason', async () => {
    await expect(startServer({ env: { LOCAL_CORS_ORIGINS: '*' } })).rejects.toThrow(
      /wildcards are not allowed/,
    );
  });
});
