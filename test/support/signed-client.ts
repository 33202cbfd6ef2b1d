import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../../lib/local/node-sha256.ts';
import { exchangeViolations } from './openapi.ts';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface CallOptions {
  body?: unknown;
  /** Sent as is, for malformed-input tests. */
  rawBody?: string;
  headers?: Record<string, string>;
  /** Leave the request unsigned. */
  unsigned?: boolean;
  credentials?: Credentials;
  region?: string;
  service?: string;
  signingDate?: Date;
}

export interface CallResult {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body, when it is JSON. */
  json: unknown;
}

export const ADMIN: Credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

/**
 * Calls the local server over real HTTP, signed with SigV4 for `execute-api` the way an AWS SDK or
 * `curl --aws-sigv4` would.
 */
export async function call(
  baseUrl: string,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<CallResult> {
  const url = new URL(path, baseUrl);
  const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  const headers: Record<string, string> = {
    host: url.host,
    ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    ...options.headers,
  };
  if (options.unsigned !== true) {
    const signer = new SignatureV4({
      service: options.service ?? 'execute-api',
      region: options.region ?? 'us-east-1',
      credentials: options.credentials ?? ADMIN,
      sha256: NodeSha256,
    });
    const query: Record<string, string> = {};
    for (const [key, value] of url.searchParams) query[key] = value;
    const signed = await signer.sign(
      {
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        port: Number(url.port),
        path: url.pathname,
        query,
        headers,
        body,
      },
      options.signingDate === undefined ? {} : { signingDate: options.signingDate },
    );
    Object.assign(headers, signed.headers);
  }
  const { host: _host, ...sent } = headers;
  const response = await fetch(url, { method, headers: sent, body });
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  const result = { status: response.status, headers: response.headers, text, json };
  // Every exchange of the integration suite keeps openapi.json true (docs/api.md section 6).
  const violations = exchangeViolations(method, path, options, result);
  if (violations.length > 0)
    throw new Error(`openapi.json does not describe this exchange:\n${violations.join('\n')}`);
  return result;
}

/** Waits until `check` returns a value other than undefined, polling; fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
