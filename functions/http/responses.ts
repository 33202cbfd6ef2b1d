import type { Counter } from '../counter/schema.ts';
import { counterPath, DEFAULT_COUNTER } from '../counter/schema.ts';
import { type HttpEvent, type HttpResult, json, parseParams } from './http.ts';

/** The counter a request addresses: `{name}` from the path, or `default` on the seed's `/counter` routes. */
export function counterNameOf(event: HttpEvent): string {
  return parseParams('path', { name: event.pathParameters?.name ?? DEFAULT_COUNTER }, counterPath).name;
}

export function counterResponse(counter: Counter): HttpResult {
  return json(200, counter, { etag: `"${counter.version}"` });
}

/**
 * `Prefer: return=minimal` (RFC 7240) on a POST: the caller wants no body, so a sharded counter is
 * not read after its increment, which is what lets a hot counter scale with its shards. As the RFC
 * reads: preferences are comma-separated, each `token [= value]` then `;` parameters; the token
 * compares case-insensitively, the value (bare or quoted) case-sensitively.
 */
export function prefersMinimal(event: HttpEvent): boolean {
  return (event.headers.prefer ?? '').split(',').some((preference) => {
    const [, token, value] = /^([^=;]*)=([^;]*)/.exec(preference) ?? [];
    return token?.trim().toLowerCase() === 'return' && value?.trim().replace(/^"(.*)"$/, '$1') === 'minimal';
  });
}

/**
 * The answer to an increment: 200 and the counter; 204 when the caller preferred no body (with the
 * ETag when the version is known); 204 too when the change is applied but the counter was not read
 * (a sharded counter; docs/sharding.md). A 2xx either way: the change must not be sent again.
 */
export function changedResponse(counter: Counter | undefined, minimal: boolean): HttpResult {
  if (counter !== undefined && !minimal) return counterResponse(counter);
  return {
    statusCode: 204,
    headers: {
      ...(counter === undefined ? {} : { etag: `"${counter.version}"` }),
      ...(minimal ? { 'preference-applied': 'return=minimal' } : {}),
    },
  };
}
