import { createHash } from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import type { LocalPrincipal } from '../../lib/local/principals.ts';
import { type RawRequest, verifySigV4 } from '../../lib/local/sigv4.ts';

const NOW = new Date('2025-03-04T05:06:07Z');
const REGION = 'us-east-1';
const ALICE: LocalPrincipal = {
  accessKeyId: 'AKIDALICE',
  secretAccessKey: 'alice-secret',
  arn: 'arn:aws:iam::000000000000:user/alice',
  allow: ['*'],
};
const PRINCIPALS: ReadonlyMap<string, LocalPrincipal> = new Map([[ALICE.accessKeyId, ALICE]]);

interface ClientRequest {
  method?: string;
  path?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
}

interface SigningOptions {
  accessKeyId?: string;
  secretAccessKey?: string;
  region?: string;
  service?: string;
  signingDate?: Date;
  unsignableHeaders?: Set<string>;
}

/** Signs a request as an AWS SDK client would, and returns what arrives on the wire. */
async function signed(request: ClientRequest = {}, options: SigningOptions = {}): Promise<RawRequest> {
  const signer = new SignatureV4({
    service: options.service ?? 'execute-api',
    region: options.region ?? REGION,
    credentials: {
      accessKeyId: options.accessKeyId ?? ALICE.accessKeyId,
      secretAccessKey: options.secretAccessKey ?? ALICE.secretAccessKey,
    },
    sha256: Sha256,
  });
  const query = request.query ?? {};
  const result = await signer.sign(
    new HttpRequest({
      method: request.method ?? 'POST',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 3000,
      path: request.path ?? '/counters/visits',
      query,
      headers: { host: '127.0.0.1:3000', 'content-type': 'application/json', ...request.headers },
      ...(request.body === undefined ? {} : { body: request.body }),
    }),
    {
      signingDate: options.signingDate ?? NOW,
      ...(options.unsignableHeaders === undefined ? {} : { unsignableHeaders: options.unsignableHeaders }),
    },
  );
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers)) headers[name.toLowerCase()] = value;
  return {
    method: result.method,
    rawPath: result.path,
    rawQueryString: new URLSearchParams(query).toString(),
    headers,
    body: Buffer.from(request.body ?? '', 'utf8'),
  };
}

async function verify(request: RawRequest, now: Date = NOW) {
  return verifySigV4(request, PRINCIPALS, REGION, now);
}

describe('verifySigV4', () => {
  it('accepts a request signed by a known principal and names the principal', async () => {
    // Prepare
    const request = await signed({ body: '{"by": 2}' });

    // Act
    const verification = await verify(request);

    // Assess
    expect(verification).toEqual({ ok: true, principal: ALICE });
  });

  it('accepts a signed GET with a query string and no body', async () => {
    // Prepare
    const request = await signed({
      method: 'GET',
      path: '/counters',
      query: { prefix: 'shop.', limit: '5' },
    });

    // Act
    const verification = await verify(request);

    // Assess
    expect(verification.ok).toBe(true);
  });

  it('accepts a signature made four minutes ago', async () => {
    // Prepare
    const request = await signed({}, { signingDate: new Date(NOW.getTime() - 4 * 60_000) });

    // Act
    const verification = await verify(request);

    // Assess
    expect(verification.ok).toBe(true);
  });

  it('refuses a request without an Authorization header', async () => {
    // Prepare
    const original = await signed();
    const { authorization: _dropped, ...headers } = original.headers;
    const request = { ...original, headers };

    // Act
    const verification = await verify(request);

    // Assess
    expect(verification).toEqual({ ok: false, reason: 'unsigned' });
  });

  it.each<[string, SigningOptions, RegExp]>([
    ['the wrong secret', { secretAccessKey: 'not-alice-secret' }, /signature does not match/],
    ['an unknown access key', { accessKeyId: 'AKIDMALLORY' }, /unknown access key/],
    ['another region', { region: 'eu-west-1' }, /region eu-west-1/],
    ['another service', { service: 'lambda' }, /service lambda/],
    ['a date ten minutes old', { signingDate: new Date(NOW.getTime() - 10 * 60_000) }, /five minutes/],
    ['a date ten minutes ahead', { signingDate: new Date(NOW.getTime() + 10 * 60_000) }, /five minutes/],
    ['a signature that does not cover host', { unsignableHeaders: new Set(['host']) }, /host/],
  ])('refuses a request signed with %s', async (_what, options, reason) => {
    // Prepare
    const request = await signed({ body: '{"by": 1}' }, options);

    // Act
    const verification = await verify(request);

    // Assess
    expect(verification).toEqual({ ok: false, reason: expect.stringMatching(reason) });
  });

  it.each<[string, (request: RawRequest) => RawRequest]>([
    ['a tampered body', (request) => ({ ...request, body: Buffer.from('{"by": 1000}') })],
    [
      'a tampered body whose declared hash was dropped',
      (request) => {
        const { 'x-amz-content-sha256': _dropped, ...headers } = request.headers;
        return { ...request, headers, body: Buffer.from('{"by": 1000}') };
      },
    ],
    ['a tampered path', (request) => ({ ...request, rawPath: '/counters/other' })],
    ['a tampered query', (request) => ({ ...request, rawQueryString: 'limit=100' })],
    ['an added query parameter', (request) => ({ ...request, rawQueryString: 'limit=5&prefix=x' })],
    ['another method', (request) => ({ ...request, method: 'DELETE' })],
    [
      'a tampered signed header',
      (request) => ({ ...request, headers: { ...request.headers, host: 'evil:1' } }),
    ],
    [
      'a credential scope dated another day',
      (request) => ({
        ...request,
        headers: {
          ...request.headers,
          authorization: String(request.headers.authorization).replace('/20250304/', '/20250305/'),
        },
      }),
    ],
  ])('refuses %s', async (_what, tamper) => {
    // Prepare
    const original = await signed({ body: '{"by": 1}', query: { limit: '5' } });
    expect((await verify(original)).ok).toBe(true);
    const request = tamper(original);

    // Act
    const verification = await verify(request);

    // Assess
    expect(verification.ok).toBe(false);
  });

  it('refuses a body that differs from the x-amz-content-sha256 the signature covers', async () => {
    // Prepare: the client declares (and signs) the hash of one body, then sends another.
    const declared = createHash('sha256').update('{"by": 1}').digest('hex');
    const request = await signed({ body: '{"by": 1}', headers: { 'x-amz-content-sha256': declared } });
    const swapped = { ...request, body: Buffer.from('{"by": 1000}') };
    expect(swapped.headers['x-amz-content-sha256']).toBe(declared);

    // Act
    const verification = await verify(swapped);

    // Assess
    expect(verification).toEqual({ ok: false, reason: 'x-amz-content-sha256 does not match the body' });
  });

  it('refuses a request whose x-amz-content-sha256 was not the hash of its body when signed', async () => {
    // Prepare: a hash that was never the body's, signed as if it were.
    const wrong = createHash('sha256').update('something else').digest('hex');
    const request = await signed({ body: '{"by": 1}', headers: { 'x-amz-content-sha256': wrong } });

    // Act
    const verification = await verify(request);

    // Assess
    expect(verification).toEqual({ ok: false, reason: 'x-amz-content-sha256 does not match the body' });
  });
});
