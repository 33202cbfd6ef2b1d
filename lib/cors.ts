/**
 * Cross-origin access from browsers, for the stack's HTTP API and the local server alike: both read
 * these lists, so a page that works against one works against the other. CORS is off unless origins
 * are configured; the service is IAM-signed, so a browser caller signs with SigV4 itself.
 */

export const CORS_ALLOW_METHODS = ['GET', 'POST', 'PUT', 'DELETE'] as const;

/** What a browser sends on a SigV4-signed call, and the headers the API reads. */
export const CORS_ALLOW_HEADERS = [
  'authorization',
  'content-type',
  'x-amz-date',
  'x-amz-security-token',
  'x-amz-content-sha256',
  'idempotency-key',
  'if-match',
] as const;

/** The answers' headers a page may read beyond the CORS-safelisted ones. */
export const CORS_EXPOSE_HEADERS = [
  'etag',
  'link',
  'idempotent-replayed',
  'retry-after',
  'x-request-id',
] as const;

/** How long a browser may cache a preflight's answer. */
export const CORS_MAX_AGE_SECONDS = 60 * 60;

const HOST_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

export class InvalidCorsOriginError extends Error {
  constructor(origin: string, why: string) {
    super(`Invalid CORS origin ${JSON.stringify(origin)}: ${why}`);
    this.name = 'InvalidCorsOriginError';
  }
}

/**
 * Checks origins and returns them without duplicates. Each must be written exactly as a browser sends
 * its `Origin` header, `https://host[:port]` (or `http://localhost[:port]` for development), since
 * origins are compared as strings. `*` is refused: with IAM-signed calls an open CORS policy would let
 * any web page drive a signed-in user's credentials against the API.
 */
export function validateCorsOrigins(origins: readonly string[]): string[] {
  for (const origin of origins) {
    if (origin.includes('*')) {
      throw new InvalidCorsOriginError(
        origin,
        'wildcards are not allowed; name each origin that may call the API with IAM credentials.',
      );
    }
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new InvalidCorsOriginError(origin, 'expected https://host[:port] or http://localhost[:port].');
    }
    const secure = url.protocol === 'https:' || (url.protocol === 'http:' && url.hostname === 'localhost');
    if (!secure) {
      throw new InvalidCorsOriginError(origin, 'use https:// (plain http:// only for localhost).');
    }
    if (!HOST_NAME.test(url.hostname)) {
      throw new InvalidCorsOriginError(origin, 'the host must be a DNS name or an IPv4 address.');
    }
    if (url.origin !== origin) {
      throw new InvalidCorsOriginError(
        origin,
        `write it as a browser sends it, with no path, user, upper case or default port: ${url.origin}`,
      );
    }
  }
  return [...new Set(origins)];
}
