import { MAX_HISTORY_LIMIT, MAX_LIST_LIMIT, MAX_SERIES_LIMIT } from '../../functions/counter/schema.ts';
import { INTERVALS } from '../../functions/counter/series.ts';
import { MAX_BODY_BYTES } from '../../functions/http/json-body.ts';
import type { RouteSpec } from '../../lib/routes.ts';
import { cursorParameter, page, problem, queryLimit, replayedHeader, timeWindow } from './parts.ts';

/** What kind of route it is, which decides its parameters and answers. */
interface RouteKind {
  route: RouteSpec;
  /** Addresses one counter by name. */
  one: boolean;
  /** The seed's routes, on the counter `default`. */
  seed: boolean;
  /** Changes a counter (every method but GET). */
  changes: boolean;
  list: boolean;
  history: boolean;
  series: boolean;
}

/** The OpenAPI operation of one route of the route table. */
export function operation(route: RouteSpec): Record<string, unknown> {
  const kind = kindOf(route);
  const parameters = parametersOf(kind);
  const body = requestBodyOf(route);
  return {
    operationId: `${route.function.id}${kind.seed ? '-default' : ''}`.replace(/-([a-z])/g, (_, c: string) =>
      c.toUpperCase(),
    ),
    summary: `${route.function.description}${kind.seed ? ' (the counter "default")' : ''}`,
    description: `Needs the \`${route.access}\` grant (execute-api:Invoke on ${route.method}${route.path.replace('{name}', '*')}).`,
    ...(parameters.length === 0 ? {} : { parameters }),
    ...(body === undefined ? {} : { requestBody: body }),
    responses: { ...successesOf(kind), ...refusalsOf(kind) },
  };
}

function kindOf(route: RouteSpec): RouteKind {
  return {
    route,
    one: route.path.includes('{name}'),
    seed: route.path.startsWith('/counter') && !route.path.startsWith('/counters'),
    changes: route.method !== 'GET',
    list: route.path === '/counters',
    history: route.path.endsWith('/history'),
    series: route.path.endsWith('/series'),
  };
}

function parametersOf(kind: RouteKind): unknown[] {
  return [
    ...(kind.one ? [{ $ref: '#/components/parameters/name' }] : []),
    ...(kind.changes ? changeHeaders() : []),
    ...(kind.route.method === 'POST' ? [preferHeader()] : []),
    ...(kind.list
      ? [
          { name: 'prefix', in: 'query', schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{0,128}$' } },
          queryLimit(MAX_LIST_LIMIT, 50),
          cursorParameter(),
        ]
      : []),
    ...(kind.history ? [queryLimit(MAX_HISTORY_LIMIT, 100), cursorParameter(), ...timeWindow()] : []),
    ...(kind.series
      ? [
          {
            name: 'interval',
            in: 'query',
            required: true,
            description: 'The UTC bucket size.',
            schema: { type: 'string', enum: [...INTERVALS] },
          },
          queryLimit(MAX_SERIES_LIMIT, 100),
          cursorParameter(),
          ...timeWindow(),
        ]
      : []),
  ];
}

function changeHeaders(): unknown[] {
  return [
    {
      name: 'If-Match',
      in: 'header',
      required: false,
      description:
        'Apply only if the counter is at this version ("<version>"; "0": only if it does not exist yet); 412 otherwise.',
      schema: { type: 'string', pattern: '^"(0|[1-9][0-9]*)"$' },
    },
    {
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      description:
        'Apply at most once per key and principal: a repeat of the same request within 24 hours answers the ' +
        'first answer again (Idempotent-Replayed: true) and changes nothing; another request with the key: ' +
        '422; a repeat while the first is in flight: 409.',
      schema: { type: 'string', pattern: '^[\\x20-\\x7e]{1,255}$' },
    },
  ];
}

function preferHeader() {
  return {
    name: 'Prefer',
    in: 'header',
    required: false,
    description:
      '`return=minimal` (RFC 7240): answer 204 without a body. A sharded counter is then not read after ' +
      "its increment, which is what lets a hot counter take its shards' full rate (docs/sharding.md).",
    schema: { type: 'string' },
  };
}

function requestBodyOf(route: RouteSpec) {
  if (route.method === 'POST') {
    return {
      required: false,
      content: { 'application/json': { schema: { $ref: '#/components/schemas/IncrementRequest' } } },
    };
  }
  if (route.method === 'PUT') {
    return {
      required: true,
      content: { 'application/json': { schema: { $ref: '#/components/schemas/SetRequest' } } },
    };
  }
  return undefined;
}

/** The 2xx answers. */
function successesOf(kind: RouteKind): Record<string, unknown> {
  const { method } = kind.route;
  const responses: Record<string, unknown> = {};
  if (kind.list) responses['200'] = page('Counters ordered by name.', 'Counter');
  else if (kind.history)
    responses['200'] = page(
      'Changes, oldest first. A page never holds a version whose predecessors are not yet readable, so ' +
        'following Link while the counter changes yields every version exactly once, in order; the last ' +
        "page may stop short of the newest changes, which history shows once they are written (it follows the table's stream).",
      'HistoryEntry',
    );
  else if (kind.series) responses['200'] = page('Buckets with changes, oldest first.', 'SeriesBucket');
  else if (method === 'DELETE')
    responses['204'] = { description: 'Deleted; its history follows.', headers: replayedHeader() };
  else
    responses['200'] = {
      description: 'The counter.',
      headers: { ETag: { $ref: '#/components/headers/ETag' }, ...(kind.changes ? replayedHeader() : {}) },
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Counter' } } },
    };
  if (method === 'POST') {
    responses['204'] = {
      description:
        'Applied, without a body: `Prefer: return=minimal` was asked (`Preference-Applied: return=minimal`; ' +
        "`ETag` when the version is known, which a sharded counter's increment does not read), or a sharded " +
        'counter could not be read after its increment. Never send the change again for a 204.',
      headers: {
        ETag: { $ref: '#/components/headers/ETag' },
        'Preference-Applied': { schema: { type: 'string', enum: ['return=minimal'] } },
        ...replayedHeader(),
      },
    };
  }
  return responses;
}

/** The 4xx and 5xx answers. */
function refusalsOf(kind: RouteKind): Record<string, unknown> {
  const { method } = kind.route;
  const responses: Record<string, unknown> = {};
  responses['400'] = problem(
    'Malformed JSON, a field given twice anywhere in the body, a value that is not an integer in range, an ' +
      'increment by 0, a missing or unknown field, a bad name (dots alone included), query parameter or ' +
      'cursor (one this API did not issue for this listing).',
  );
  responses['403'] = {
    description: 'Unsigned, badly signed, or not allowed for this principal.',
    content: { 'application/json': { schema: { $ref: '#/components/schemas/GatewayMessage' } } },
  };
  // Changes create a counter that is absent, so only reads and deletes answer 404; a history or series
  // cursor outlives the counter it came from, the seed's `default` included.
  if (method === 'GET' && (kind.one || kind.history || kind.series))
    responses['404'] = problem('No counter of that name.');
  if (method === 'DELETE') responses['404'] = problem('No counter of that name.');
  if (kind.changes) Object.assign(responses, changeRefusals(method));
  responses['429'] = {
    ...problem("Throttled; retry after the Retry-After header's seconds."),
    headers: { 'Retry-After': { schema: { type: 'integer' } } },
  };
  responses['500'] = problem('Failed on our side; safe to retry.');
  if (kind.changes) {
    responses['503'] = {
      ...problem(
        "The counter's items were held by other transactions through every retry (/problems/contended; a " +
          "sharded counter's If-Match changes and deletes, keyed deletes); nothing changed. Not throttling: " +
          'retry after Retry-After.',
      ),
      headers: { 'Retry-After': { schema: { type: 'integer' } } },
    };
  }
  return responses;
}

/** The refusals only a change can meet: 409, 412, 413 and 422. */
function changeRefusals(method: string): Record<string, unknown> {
  return {
    '409': {
      ...problem(
        method === 'POST'
          ? "The change would leave the range (/problems/out-of-range) or the counter's bounds (/problems/out-of-bounds; nothing changed), or a request with the same Idempotency-Key is still in flight (retry after Retry-After)."
          : method === 'PUT'
            ? 'A request with the same Idempotency-Key is still in flight (retry after Retry-After); or, with nothing changed: the value is outside a bound the counter keeps (/problems/out-of-bounds), the counter is sharded (sets are refused), `shards` was given for a counter that exists or with bounds, or the value does not fit the shards asked for.'
            : 'A request with the same Idempotency-Key is still in flight; retry after Retry-After.',
      ),
      headers: { 'Retry-After': { schema: { type: 'integer' } } },
    },
    '412': problem('If-Match named another version; nothing changed.'),
    '413': {
      description: `The body is over ${MAX_BODY_BYTES} bytes (problem+json), or over API Gateway's 10 MiB (its own message).`,
      content: {
        'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } },
        'application/json': { schema: { $ref: '#/components/schemas/GatewayMessage' } },
      },
    },
    '422': problem('The Idempotency-Key was used before for a different request; nothing changed.'),
  };
}
