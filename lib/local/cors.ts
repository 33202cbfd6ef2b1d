import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  CORS_ALLOW_HEADERS,
  CORS_ALLOW_METHODS,
  CORS_EXPOSE_HEADERS,
  CORS_MAX_AGE_SECONDS,
} from '../cors.ts';

/**
 * CORS as API Gateway applies an HTTP API's CORS configuration, with the stack's lists (lib/cors.ts).
 * With no origins configured it does nothing, so OPTIONS finds no route (404) as on AWS. Otherwise
 * every OPTIONS is a preflight, answered here without a signature because browsers never sign one;
 * any other answer to an allowed origin carries the origin and the exposed headers. An origin not on
 * the list gets no CORS headers at all, and the browser keeps the answer from the page.
 *
 * Returns true when it has answered the request itself.
 */
export function applyCors(req: IncomingMessage, res: ServerResponse, origins: ReadonlySet<string>): boolean {
  if (origins.size === 0) return false;
  // The answer depends on Origin, so no cache may hand one origin's answer to another.
  res.setHeader('vary', 'origin');
  const origin = req.headers.origin;
  const allowed = origin !== undefined && origins.has(origin);
  if (req.method === 'OPTIONS') {
    res.writeHead(
      204,
      allowed
        ? {
            'access-control-allow-origin': origin,
            'access-control-allow-methods': CORS_ALLOW_METHODS.join(','),
            'access-control-allow-headers': CORS_ALLOW_HEADERS.join(','),
            'access-control-max-age': String(CORS_MAX_AGE_SECONDS),
          }
        : {},
    );
    res.end();
    return true;
  }
  if (allowed) {
    res.setHeader('access-control-allow-origin', origin);
    res.setHeader('access-control-expose-headers', CORS_EXPOSE_HEADERS.join(','));
  }
  return false;
}
