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
  // Each step refuses with its reason or passes on what the next needs; the order is API Gateway's.
  const credential = parseAuthorization(request.headers.authorization, region);
  if (!credential.ok) return credential;
  const date = signingDateOf(request, credential.shortDate, now);
  if (!date.ok) return date;
  const principal = principals.get(credential.accessKeyId);
  if (principal === undefined) return refuse('unknown access key');
  const signed = signedHeadersOf(request, credential.signedHeaderList);
  if (!signed.ok) return signed;
  // The signer trusts a declared payload hash, so a declared one must be the body's.
  const declaredHash = request.headers['x-amz-content-sha256'];
  if (declaredHash !== undefined && declaredHash !== sha256Hex(request.body)) {
    return refuse('x-amz-content-sha256 does not match the body');
  }

  const secret = principal.secretAccessKey;
  const expected = await canonicalSignature(request, signed, date.signingDate, region, {
    accessKeyId: credential.accessKeyId,
    secretAccessKey: secret,
  });
  if (sameSignature(expected, credential.signature)) return { ok: true, principal };
  const scope = `${credential.shortDate}/${region}/execute-api/aws4_request`;
  const literal = literalSignature(request, signed.headers, signed.names, date.amzDate, scope, secret);
  if (sameSignature(literal, credential.signature)) return { ok: true, principal };
  return refuse('signature does not match');
}

type Refusal = { ok: false; reason: string };

function refuse(reason: string): Refusal {
  return { ok: false, reason };
}

interface Credential {
  ok: true;
  accessKeyId: string;
  /** The credential scope's date, `yyyymmdd`. */
  shortDate: string | undefined;
  /** `host;x-amz-date;...` as sent. */
  signedHeaderList: string;
  signature: string;
}

/** The Authorization header's parts, refused unless it is for this region and `execute-api`. */
function parseAuthorization(authorization: string | undefined, region: string): Credential | Refusal {
  if (authorization === undefined) return refuse('unsigned');
  const match = AUTHORIZATION.exec(authorization.trim());
  if (match === null) return refuse('malformed Authorization header');
  const [, accessKeyId = '', shortDate, scopeRegion, service, signedHeaderList = '', signature = ''] = match;
  if (scopeRegion !== region) return refuse(`signed for region ${scopeRegion}, not ${region}`);
  if (service !== 'execute-api') return refuse(`signed for service ${service}, not execute-api`);
  return { ok: true, accessKeyId, shortDate, signedHeaderList, signature };
}

/** X-Amz-Date, which must agree with the credential's date and be within five minutes of now. */
function signingDateOf(
  request: RawRequest,
  shortDate: string | undefined,
  now: Date,
): { ok: true; signingDate: Date; amzDate: string } | Refusal {
  const amzDate = request.headers['x-amz-date'];
  const signingDate = amzDate === undefined ? undefined : parseAmzDate(amzDate);
  if (amzDate === undefined || signingDate === undefined) return refuse('missing or malformed X-Amz-Date');
  if (amzDate.slice(0, 8) !== shortDate) return refuse('credential date differs from X-Amz-Date');
  if (Math.abs(now.getTime() - signingDate.getTime()) > MAX_CLOCK_SKEW_MS) {
    return refuse('signature date is more than five minutes from now');
  }
  return { ok: true, signingDate, amzDate };
}

interface SignedHeaders {
  ok: true;
  /** In the order the client listed them. */
  names: string[];
  /** Those headers' values as received. */
  headers: Record<string, string>;
}

/** The headers the client says it signed: host and x-amz-date among them, and every one present. */
function signedHeadersOf(request: RawRequest, signedHeaderList: string): SignedHeaders | Refusal {
  const names = signedHeaderList.split(';');
  if (!names.includes('host') || !names.includes('x-amz-date')) {
    return refuse('host and x-amz-date must be signed');
  }
  const headers: Record<string, string> = {};
  for (const name of names) {
    const value = request.headers[name];
    if (value === undefined) return refuse(`signed header ${name} is missing`);
    headers[name] = value;
  }
  return { ok: true, names, headers };
}

/** The signature an AWS SDK would send for this request: SigV4's canonical form, by Smithy's signer. */
async function canonicalSignature(
  request: RawRequest,
  signed: SignedHeaders,
  signingDate: Date,
  region: string,
  credentials: { accessKeyId: string; secretAccessKey: string },
): Promise<string> {
  const signer = new SignatureV4({
    service: 'execute-api',
    region,
    credentials,
    sha256: NodeSha256,
    applyChecksum: false,
  });
  const result = await signer.sign(
    {
      method: request.method,
      protocol: 'http:',
      hostname: signed.headers.host ?? '',
      path: request.rawPath,
      query: parseQuery(request.rawQueryString),
      headers: signed.headers,
      body: request.body.length === 0 ? undefined : request.body,
    },
    { signingDate, signableHeaders: new Set(signed.names) },
  );
  return /Signature=([0-9a-f]{64})$/.exec(String(result.headers.authorization))?.[1] ?? '';
}

function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
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
  amzDate: string,
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
    sha256Hex(request.body),
  ].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
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
