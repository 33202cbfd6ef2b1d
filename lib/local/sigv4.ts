import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from './node-sha256.ts';
import type { LocalPrincipal } from './principals.ts';

/** What arrived on the wire, before any decoding. */
export interface RawRequest {
  method: string;
  /** The path as sent, still percent-encoded. */
  rawPath: string;
  rawQueryString: string;
  /** Lower-case names; repeated headers joined with ", " as Node.js does. */
  headers: Record<string, string>;
  body: Buffer;
}

export type Verification = { ok: true; principal: LocalPrincipal } | { ok: false; reason: string };

const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;
const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;_.-]+),\s*Signature=([0-9a-f]{64})$/;

/**
 * Checks a request's AWS Signature Version 4 the way API Gateway does for IAM routes: a known key,
 * this region and `execute-api`, a date within five minutes, and a signature over exactly the headers
 * the client says it signed. The reason is for the server's log only; callers just get 403.
 */
export async function verifySigV4(
  request: RawRequest,
  principals: ReadonlyMap<string, LocalPrincipal>,
  region: string,
  now: Date = new Date(),
): Promise<Verification> {
  const authorization = request.headers.authorization;
  if (authorization === undefined) return { ok: false, reason: 'unsigned' };
  const match = AUTHORIZATION.exec(authorization.trim());
  if (match === null) return { ok: false, reason: 'malformed Authorization header' };
  const [, accessKeyId = '', shortDate, scopeRegion, service, signedHeaderList = '', signature = ''] = match;
  if (scopeRegion !== region) return { ok: false, reason: `signed for region ${scopeRegion}, not ${region}` };
  if (service !== 'execute-api')
    return { ok: false, reason: `signed for service ${service}, not execute-api` };

  const amzDate = request.headers['x-amz-date'];
  const signingDate = amzDate === undefined ? undefined : parseAmzDate(amzDate);
  if (signingDate === undefined) return { ok: false, reason: 'missing or malformed X-Amz-Date' };
  if (amzDate?.slice(0, 8) !== shortDate)
    return { ok: false, reason: 'credential date differs from X-Amz-Date' };
  if (Math.abs(now.getTime() - signingDate.getTime()) > MAX_CLOCK_SKEW_MS) {
    return { ok: false, reason: 'signature date is more than five minutes from now' };
  }

  const principal = principals.get(accessKeyId);
  if (principal === undefined) return { ok: false, reason: 'unknown access key' };

  const signedHeaders = signedHeaderList.split(';');
  if (!signedHeaders.includes('host') || !signedHeaders.includes('x-amz-date')) {
    return { ok: false, reason: 'host and x-amz-date must be signed' };
  }
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = request.headers[name];
    if (value === undefined) return { ok: false, reason: `signed header ${name} is missing` };
    headers[name] = value;
  }
  // The signer trusts a declared payload hash, so a declared one must be the body's.
  const declaredHash = request.headers['x-amz-content-sha256'];
  if (
    declaredHash !== undefined &&
    declaredHash !== createHash('sha256').update(request.body).digest('hex')
  ) {
    return { ok: false, reason: 'x-amz-content-sha256 does not match the body' };
  }

  const signer = new SignatureV4({
    service: 'execute-api',
    region,
    credentials: { accessKeyId, secretAccessKey: principal.secretAccessKey },
    sha256: NodeSha256,
    applyChecksum: false,
  });
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: 'http:',
      hostname: headers.host ?? '',
      path: request.rawPath,
      query: parseQuery(request.rawQueryString),
      headers,
      body: request.body.length === 0 ? undefined : request.body,
    },
    { signingDate, signableHeaders: new Set(signedHeaders) },
  );
  const expected = /Signature=([0-9a-f]{64})$/.exec(String(signed.headers.authorization))?.[1] ?? '';
  if (sameSignature(expected, signature)) return { ok: true, principal };
  const literal = literalSignature(
    request,
    headers,
    signedHeaders,
    amzDate,
    `${shortDate}/${region}/execute-api/aws4_request`,
    principal.secretAccessKey,
  );
  if (sameSignature(literal, signature)) return { ok: true, principal };
  return { ok: false, reason: 'signature does not match' };
}

function sameSignature(expected: string, given: string): boolean {
  return expected.length === given.length && timingSafeEqual(Buffer.from(expected), Buffer.from(given));
}

/**
 * curl before 8 (Debian 12 ships 7.88) signs the path and query string exactly as sent, unsorted and
 * unencoded, rather than in SigV4's canonical form. Accepting that form too keeps the contract's
 * `curl --aws-sigv4` example working here; it proves the same secret over the same method, path,
 * query, headers and body. (AWS itself wants the canonical form: use curl 8+ or an SDK there.)
 */
function literalSignature(
  request: RawRequest,
  headers: Record<string, string>,
  signedHeaders: string[],
  amzDate: string | undefined,
  scope: string,
  secret: string,
): string {
  const canonicalHeaders = signedHeaders
    .map((name) => `${name}:${(headers[name] ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const canonicalRequest = [
    request.method,
    request.rawPath,
    request.rawQueryString,
    canonicalHeaders,
    signedHeaders.join(';'),
    createHash('sha256').update(request.body).digest('hex'),
  ].join('\n');
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  let key: Buffer = Buffer.from(`AWS4${secret}`);
  for (const part of scope.split('/')) key = createHmac('sha256', key).update(part).digest();
  return createHmac('sha256', key).update(stringToSign).digest('hex');
}

function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (m === null) return undefined;
  const date = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** Query parameters decoded once, as a SigV4 signer saw them before encoding; repeats become lists. */
function parseQuery(raw: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  if (raw === '') return query;
  for (const pair of raw.split('&')) {
    const [rawKey = '', rawValue = ''] = pair.split(/=(.*)/s);
    const key = safeDecode(rawKey);
    const value = safeDecode(rawValue);
    const existing = query[key];
    query[key] =
      existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  return query;
}

/** Percent-decoding that leaves malformed escapes as sent (the handlers then refuse the value). */
export function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
