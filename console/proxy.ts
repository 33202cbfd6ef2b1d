import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { counterPath, nextLink, type RawAnswer } from '../client/counter-client.ts';

/**
 * The console's API, as the page calls it: the counter service's read and change routes under `/api`,
 * each sent on signed by the console. Only these routes, their query parameters and the two headers a
 * change may carry go through; everything else is refused here, before anything is signed. Values are
 * not judged here: the service is the one place its rules live, and its problem answers come back to
 * the page as they are.
 */

/** A refusal by the console itself, answered as problem+json like the service's own. */
export class ConsoleProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'ConsoleProblem';
  }
}

export interface UpstreamRequest {
  method: string;
  /** The service's path and query, such as `/counters/a/history?limit=20`. */
  path: string;
  headers: Record<string, string>;
  body: unknown;
  /** The console's own path for the same route, where a next-page link is pointed. */
  consolePath: string;
}

interface Route {
  pattern: RegExp;
  methods: readonly string[];
  query: readonly string[];
  path: (name: string) => string;
}

const CHANGES = ['POST', 'PUT', 'DELETE'];

const ROUTES: Route[] = [
  {
    pattern: /^\/api\/counters$/,
    methods: ['GET'],
    query: ['prefix', 'limit', 'cursor'],
    path: () => '/counters',
  },
  {
    pattern: /^\/api\/counters\/([^/]+)$/,
    methods: ['GET', ...CHANGES],
    query: [],
    path: (name) => counterPath(name),
  },
  {
    pattern: /^\/api\/counters\/([^/]+)\/history$/,
    methods: ['GET'],
    query: ['limit', 'cursor', 'since', 'until'],
    path: (name) => `${counterPath(name)}/history`,
  },
  {
    pattern: /^\/api\/counters\/([^/]+)\/series$/,
    methods: ['GET'],
    query: ['interval', 'limit', 'cursor', 'since', 'until'],
    path: (name) => `${counterPath(name)}/series`,
  },
];

/** The longest query value passed on; the service's own (cursors included) are far shorter. */
const MAX_QUERY_VALUE = 2048;
/** The longest body read, as the service's limit (16 KiB). */
export const MAX_BODY_BYTES = 16 * 1024;

const printable = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[\x20-\x7e]+$/);
const changeHeaders = z.object({
  'if-match': printable(64).optional(),
  'idempotency-key': printable(255).optional(),
});

export interface IncomingFacts {
  method: string;
  /** The request target, as sent: path and query. */
  target: string;
  headers: Record<string, string | string[] | undefined>;
  /** The body as read; undefined when there was none. */
  body: string | undefined;
}

/** The service request that a call of the console's API stands for; `ConsoleProblem` when none does. */
export function toUpstream(request: IncomingFacts): UpstreamRequest {
  const url = new URL(request.target, 'http://console.invalid');
  // Refused in this order: no such route (404), method (405), name, query, headers, body (400/415).
  const { route, segment } = routeOf(url.pathname, request.method);
  const path = servicePath(route, segment, url.pathname);
  const search = queryOf(route, url.searchParams).toString();
  const headers = changeHeadersOf(request);
  const body = parseBody(request);
  return {
    method: request.method,
    path: search === '' ? path : `${path}?${search}`,
    headers,
    body,
    consolePath: url.pathname,
  };
}

/** The route of a console path that takes this method; `segment` is its counter name, still encoded. */
function routeOf(pathname: string, method: string): { route: Route; segment: string | undefined } {
  const matched = ROUTES.map((route) => ({ route, match: route.pattern.exec(pathname) })).find(
    (candidate) => candidate.match !== null,
  );
  if (matched === undefined) throw new ConsoleProblem(404, 'Not Found', `The console has no ${pathname}.`);
  const { route, match } = matched;
  if (!route.methods.includes(method)) {
    throw new ConsoleProblem(405, 'Method Not Allowed', `${pathname} takes ${route.methods.join(', ')}.`, {
      allow: route.methods.join(', '),
    });
  }
  return { route, segment: match?.[1] };
}

/** The service's path for the route, with the counter name decoded once (the client encodes it again). */
function servicePath(route: Route, segment: string | undefined, pathname: string): string {
  if (segment === undefined) return route.path('');
  try {
    return route.path(decodeURIComponent(segment));
  } catch (error) {
    throw new ConsoleProblem(
      400,
      'Bad Request',
      `The counter name in ${pathname} cannot be used: ${messageOf(error)}`,
    );
  }
}

/** The route's own query parameters, each at most once and of bounded length; any other is refused. */
function queryOf(route: Route, searchParams: URLSearchParams): URLSearchParams {
  const query = new URLSearchParams();
  for (const [key, value] of searchParams) {
    if (!route.query.includes(key)) {
      const allowed = route.query.length === 0 ? 'none' : route.query.join(', ');
      throw new ConsoleProblem(400, 'Bad Request', `Unknown query parameter "${key}" (allowed: ${allowed}).`);
    }
    if (query.has(key))
      throw new ConsoleProblem(400, 'Bad Request', `The query parameter "${key}" is given twice.`);
    if (value.length > MAX_QUERY_VALUE) {
      throw new ConsoleProblem(400, 'Bad Request', `The query parameter "${key}" is too long.`);
    }
    query.set(key, value);
  }
  return query;
}

/** For a change: If-Match as given, and an Idempotency-Key, the caller's or a new one. */
function changeHeadersOf(request: IncomingFacts): Record<string, string> {
  const headers: Record<string, string> = {};
  if (!CHANGES.includes(request.method)) return headers;
  const parsed = changeHeaders.safeParse({
    'if-match': single(request.headers['if-match']),
    'idempotency-key': single(request.headers['idempotency-key']),
  });
  if (!parsed.success) {
    const field = parsed.error.issues[0]?.path.join('.') ?? 'a header';
    throw new ConsoleProblem(
      400,
      'Bad Request',
      `The ${field} header must be printable ASCII, and not too long.`,
    );
  }
  if (parsed.data['if-match'] !== undefined) headers['if-match'] = parsed.data['if-match'];
  // Every change carries a key, so the retries that send it on can never apply it twice.
  headers['idempotency-key'] = parsed.data['idempotency-key'] ?? `counter-console:${randomUUID()}`;
  return headers;
}

function parseBody(request: IncomingFacts): unknown {
  if (request.body === undefined || request.body === '') return undefined;
  if (request.method !== 'POST' && request.method !== 'PUT') {
    throw new ConsoleProblem(400, 'Bad Request', `A ${request.method} takes no body.`);
  }
  const type = single(request.headers['content-type'])?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new ConsoleProblem(415, 'Unsupported Media Type', 'A body must be sent as application/json.');
  }
  try {
    return JSON.parse(request.body);
  } catch {
    throw new ConsoleProblem(400, 'Bad Request', 'The body is not valid JSON.');
  }
}

const problemSchema = z.object({ detail: z.string() });
const gatewaySchema = z.object({ message: z.string() });

export interface BrowserAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** HTTP reason phrases for the statuses a page may meet without a problem body (API Gateway's own). */
const TITLES: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
};

/**
 * The service's answer as the page gets it: its status and body, with the headers the page uses; a
 * next-page link points at the console's own route; an error without problem details (API Gateway's
 * `{"message": "Forbidden"}`) becomes one, so the page shows every refusal the same way.
 */
export function toBrowser(answer: RawAnswer, upstream: UpstreamRequest): BrowserAnswer {
  const headers: Record<string, string> = {};
  for (const name of ['etag', 'retry-after', 'idempotent-replayed', 'x-request-id']) {
    const value = answer.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  const next = nextLink(answer.headers.get('link'));
  if (next !== undefined) {
    const query = new URL(next, 'http://service.invalid').search;
    headers.link = `<${upstream.consolePath}${query}>; rel="next"`;
  }
  if (answer.status >= 400 && !problemSchema.safeParse(answer.body).success) {
    const gateway = gatewaySchema.safeParse(answer.body);
    const detail = gateway.success
      ? gateway.data.message
      : answer.text.slice(0, 500) || 'The API gave no detail.';
    return problem(answer.status, TITLES[answer.status] ?? 'Error', detail, headers);
  }
  if (answer.text === '') return { status: answer.status, headers, body: '' };
  const type = answer.headers.get('content-type') ?? 'application/json';
  return { status: answer.status, headers: { ...headers, 'content-type': type }, body: answer.text };
}

export function problem(
  status: number,
  title: string,
  detail: string,
  headers: Record<string, string> = {},
  type = 'about:blank',
): BrowserAnswer {
  return {
    status,
    headers: { ...headers, 'content-type': 'application/problem+json' },
    body: JSON.stringify({ type, title, status, detail }),
  };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
