import type { Counter } from '../counter/schema.ts';
import { counterPath, DEFAULT_COUNTER } from '../counter/schema.ts';
import { type HttpEvent, type HttpResult, json, parseParams } from '../shared/http.ts';

/** The counter a request addresses: `{name}` from the path, or `default` on the seed's `/counter` routes. */
export function counterNameOf(event: HttpEvent): string {
  return parseParams('path', { name: event.pathParameters?.name ?? DEFAULT_COUNTER }, counterPath).name;
}

export function counterResponse(counter: Counter): HttpResult {
  return json(200, counter, { etag: `"${counter.version}"` });
}
