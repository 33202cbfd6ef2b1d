import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { MAX_BODY_BYTES } from '../../functions/http/json-body.ts';
import { matchesPattern } from '../access.ts';
import { REPO_ROOT } from '../repo-root.ts';
import { lambdaContext, toApiGatewayEvent } from './api-event.ts';
import { applyCors } from './cors.ts';
import { type LocalRoute, type MatchedRoute, matchRoute } from './handlers.ts';
import { flattenHeaders, gatewayTooLarge, readBody, refuseBody, send, writeResult } from './http-io.ts';
import type { LocalPrincipal } from './principals.ts';
import { type RawRequest, verifySigV4 } from './sigv4.ts';

const MAX_API_GATEWAY_BODY = 10 * 1024 * 1024;

/** What the gateway needs to answer a request: the routes, who may call, and where to log. */
export interface Gateway {
  routes: LocalRoute[];
  principals: ReadonlyMap<string, LocalPrincipal>;
  region: string;
  log: (message: string, details?: Record<string, unknown>) => void;
  corsOrigins: ReadonlySet<string>;
  /** The handlers' own 413 (functions/http/json-body.ts), answered here before a body is read. */
  tooLarge: APIGatewayProxyStructuredResultV2;
}

/**
 * One request, as API Gateway's HTTP API with IAM authorization takes it: size limits, CORS
 * preflights, the route, the signature and the grant, then the route's handler.
 */
export async function handle(req: IncomingMessage, res: ServerResponse, gateway: Gateway): Promise<void> {
  const method = req.method ?? 'GET';
  const target = req.url ?? '/';
  const queryAt = target.indexOf('?');
  const rawPath = queryAt === -1 ? target : target.slice(0, queryAt);
  const rawQueryString = queryAt === -1 ? '' : target.slice(queryAt + 1);

  // Before anything else, the signature check included: a body over the handlers' limit is refused
  // on its declared length, never kept, so an unsigned caller cannot make the server hold megabytes.
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_API_GATEWAY_BODY) return refuseBody(req, res, gatewayTooLarge());
  if (declared > MAX_BODY_BYTES) return refuseBody(req, res, gateway.tooLarge);

  // Before the signature check: API Gateway answers preflights, which browsers never sign, itself.
  if (applyCors(req, res, gateway.corsOrigins)) return;
  if (await answerLocalConvenience(method, rawPath, res)) return;

  // A chunked body has no declared length: reading stops as soon as it passes the limit.
  const body = await readBody(req, MAX_BODY_BYTES);
  if (body === undefined) return refuseBody(req, res, gateway.tooLarge);

  const matched = matchRoute(gateway.routes, method, rawPath);
  if (matched === undefined) return send(res, 404, { message: 'Not Found' });

  const request: RawRequest = { method, rawPath, rawQueryString, headers: flattenHeaders(req), body };
  const principal = await authorize(request, gateway);
  if (principal === undefined) return send(res, 403, { message: 'Forbidden' });
  await invoke(matched, request, principal, req.socket.remoteAddress ?? '127.0.0.1', res, gateway);
}

/** Local conveniences, unsigned (docs/api.md sections 1 and 6); true when the request was one. */
async function answerLocalConvenience(
  method: string,
  rawPath: string,
  res: ServerResponse,
): Promise<boolean> {
  if (method !== 'GET') return false;
  if (rawPath === '/health') {
    send(res, 200, { status: 'ok' });
    return true;
  }
  if (rawPath === '/openapi.json') {
    const document = await readFile(join(REPO_ROOT, 'openapi.json'));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': document.length });
    res.end(document);
    return true;
  }
  return false;
}

/** The caller, when the signature is good and a grant allows the route; undefined (403) otherwise. */
async function authorize(request: RawRequest, gateway: Gateway): Promise<LocalPrincipal | undefined> {
  const { method, rawPath } = request;
  const verification = await verifySigV4(request, gateway.principals, gateway.region);
  const allowed =
    verification.ok &&
    verification.principal.allow.some((pattern) => matchesPattern(pattern, `${method}${rawPath}`));
  if (verification.ok && allowed) return verification.principal;
  gateway.log('request refused', {
    method,
    path: rawPath,
    reason: verification.ok ? `not allowed for ${verification.principal.arn}` : verification.reason,
  });
  return undefined;
}

/** Runs the route's handler with the event API Gateway would build, and writes what it returns. */
async function invoke(
  matched: MatchedRoute,
  request: RawRequest,
  principal: LocalPrincipal,
  sourceIp: string,
  res: ServerResponse,
  gateway: Gateway,
): Promise<void> {
  const { route, handler } = matched.local;
  const routeKey = `${route.method} ${route.path}`;
  const event = toApiGatewayEvent(request, routeKey, matched.pathParameters, principal, sourceIp);
  const { requestId } = event.requestContext;
  let result: unknown;
  try {
    result = await handler(event, lambdaContext(route.function.id, requestId));
  } catch (error) {
    gateway.log('handler threw', { routeKey, error: String(error) });
    return send(res, 500, { message: 'Internal Server Error' }, requestId);
  }
  writeResult(res, result, requestId);
}
