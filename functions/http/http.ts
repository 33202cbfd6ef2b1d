import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import type {
  APIGatewayProxyEventV2WithIAMAuthorizer,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import type * as z from 'zod/mini';
import { logger } from '../platform/logger.ts';
import { type MetricName, publishCounts } from '../platform/metrics.ts';
import { BadRequestError, problemResponse, toProblem } from './problems.ts';
import { describeIssues } from './validation.ts';

export type HttpEvent = APIGatewayProxyEventV2WithIAMAuthorizer;
export type HttpResult = APIGatewayProxyStructuredResultV2;
type Route = (event: HttpEvent) => Promise<HttpResult>;

const SECURITY_HEADERS: Record<string, string> = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
};

/**
 * One HTTP route: middleware first, the route's function last. Every answer carries the security
 * headers and the request id; every error becomes problem+json, and nothing about a 5xx's cause
 * (stack, SDK message, table name) leaves the function except through the log.
 */
export function httpHandler(route: Route, options: { changes?: boolean } = {}) {
  const handler = middy<HttpEvent, HttpResult, Error, Context>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(correlationId());
  // Only the changing routes publish metrics: reads have nothing to count that API Gateway does not.
  if (options.changes === true) handler.use(changeMetrics());
  return handler.use(responseHeaders()).use(problemErrors()).handler(route);
}

/**
 * Counts each change's outcome once its answer is known (business metrics: what changed, what was
 * refused, what replayed), one EMF line per change (metrics.ts).
 */
function changeMetrics(): MiddlewareObj<HttpEvent, HttpResult, Error, Context> {
  const count = (request: { event: HttpEvent; response?: HttpResult | null | undefined }) => {
    const status = request.response?.statusCode ?? 500;
    const method = request.event.requestContext.http.method;
    const names: MetricName[] = [];
    if (request.response?.headers?.['idempotent-replayed'] === 'true') names.push('Replays');
    else if (status < 300)
      names.push(method === 'POST' ? 'Increments' : method === 'PUT' ? 'Sets' : 'Deletes');
    if (status === 409 || status === 412 || status === 422) names.push('Conflicts');
    if (status === 429) names.push('Throttled');
    publishCounts(names);
  };
  return { after: count, onError: count };
}

/** Every log line of a request carries its API Gateway request id, which the caller also receives. */
function correlationId(): MiddlewareObj<HttpEvent, HttpResult, Error, Context> {
  return {
    before: (request) => {
      logger.setCorrelationId(request.event.requestContext.requestId);
    },
  };
}

function responseHeaders(): MiddlewareObj<HttpEvent, HttpResult, Error, Context> {
  const decorate = (request: { event: HttpEvent; response?: HttpResult | null | undefined }) => {
    if (request.response === null || request.response === undefined) return;
    request.response.headers = {
      ...SECURITY_HEADERS,
      'x-request-id': request.event.requestContext.requestId,
      ...request.response.headers,
    };
  };
  return { after: decorate, onError: decorate };
}

/** Registered last, so its onError runs first and the header middleware then decorates its answer. */
function problemErrors(): MiddlewareObj<HttpEvent, HttpResult, Error, Context> {
  return {
    onError: (request) => {
      const problem = toProblem(request.error);
      if (problem.status >= 500) logger.error('request failed', { error: request.error });
      else logger.info('request refused', { status: problem.status, detail: problem.message });
      request.response = problemResponse(problem);
    },
  };
}

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

/** The caller's IAM principal, as API Gateway's IAM authorizer reports it. */
export function actorOf(event: HttpEvent): string {
  return event.requestContext.authorizer?.iam?.userArn ?? 'unknown';
}

export function parseParams<T>(where: string, input: unknown, schema: z.ZodMiniType<T>): T {
  const result = schema.safeParse(input ?? {});
  if (!result.success) throw new BadRequestError(describeIssues(where, result.error));
  return result.data;
}

/**
 * `If-Match: "<version>"`, the strong ETag a GET sends. `"0"` is the ETag of the never-changed
 * `default` counter and means "only if it does not exist yet".
 */
export function expectedVersion(event: HttpEvent): number | undefined {
  const header = event.headers['if-match'];
  if (header === undefined) return undefined;
  const match = /^\s*"(0|[1-9][0-9]{0,15})"\s*$/.exec(header);
  if (match?.[1] === undefined || !Number.isSafeInteger(Number(match[1]))) {
    throw new BadRequestError(
      'If-Match must be one version in double quotes, as the ETag header sends it: "3".',
    );
  }
  return Number(match[1]);
}

/** `Link: <...>; rel="next"`, pointing at the same path with the next cursor. */
export function nextLink(
  event: HttpEvent,
  query: Record<string, string | number | undefined>,
  cursor: string | undefined,
): Record<string, string> {
  if (cursor === undefined) return {};
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  params.set('cursor', cursor);
  return { link: `<${event.rawPath}?${params.toString()}>; rel="next"` };
}
