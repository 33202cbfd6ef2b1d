import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import {
  ADDRESSABLE_NAME_PATTERN,
  MAX_HISTORY_LIMIT,
  MAX_LIST_LIMIT,
  MAX_SERIES_LIMIT,
  MAX_SHARDS,
  NAME_PATTERN,
} from '../functions/counter/schema.ts';
import { INTERVALS } from '../functions/counter/series.ts';
import { MAX_BODY_BYTES } from '../functions/http/json-body.ts';
import { ROUTES, type RouteSpec } from '../lib/routes.ts';

/** Written as an integer literal: 1.5, "10", 1e3, 10.0 and null are all 400s. */
const INTEGER = { type: 'integer', minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER };

/**
 * Builds the OpenAPI 3.1 description of every route from the route table and the request schemas.
 * `npm run openapi` writes it to openapi.json; a test fails when the committed file differs.
 */
export function buildOpenApi(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) {
    paths[route.path] ??= {};
    const operations = paths[route.path];
    if (operations !== undefined) operations[route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Counter service',
      version: '1.0.0',
      description:
        'Exact counters with a complete history. Every route needs AWS Signature Version 4 for the service ' +
        '`execute-api`; unsigned or unauthorized calls get 403 {"message":"Forbidden"} from API Gateway.',
    },
    servers: [{ url: 'http://127.0.0.1:3000', description: 'npm start' }],
    security: [{ sigv4: [] }],
    paths,
    components: {
      securitySchemes: {
        sigv4: {
          type: 'apiKey',
          name: 'Authorization',
          in: 'header',
          description:
            'AWS Signature Version 4 (service execute-api), as API Gateway IAM authorization requires.',
        },
      },
      parameters: {
        name: {
          name: 'name',
          in: 'path',
          required: true,
          description:
            '1 to 128 characters from A-Z a-z 0-9 . _ : -, not dots alone: URLs resolve the segments `.` and ' +
            '`..` away, so such a name is a 400.',
          schema: { type: 'string', pattern: ADDRESSABLE_NAME_PATTERN.source },
        },
      },
      headers: {
        ETag: {
          description: 'The counter version, as a strong entity tag: "<version>".',
          schema: { type: 'string' },
        },
        Link: {
          description: 'The next page: <...>; rel="next". Absent on the last page.',
          schema: { type: 'string' },
        },
      },
      schemas: {
        Counter: {
          type: 'object',
          required: ['name', 'value', 'version', 'created_at', 'updated_at'],
          properties: {
            name: { type: 'string', pattern: NAME_PATTERN.source },
            value: { type: 'integer', minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER },
            version: {
              type: 'integer',
              minimum: 0,
              description: '0 only for the never-changed counter `default`.',
            },
            created_at: {
              type: ['string', 'null'],
              format: 'date-time',
              description: 'null only for the never-changed `default`.',
            },
            updated_at: { type: ['string', 'null'], format: 'date-time' },
            shards: {
              type: 'integer',
              minimum: 2,
              maximum: MAX_SHARDS,
              description:
                'Only for a counter created spread over several items (docs/sharding.md): value and version are the sums over its shards.',
            },
            min: {
              ...INTEGER,
              description: 'Only while the counter is bounded: no change takes the value below it (409).',
            },
            max: {
              ...INTEGER,
              description: 'Only while the counter is bounded: no change takes the value above it (409).',
            },
          },
        },
        HistoryEntry: {
          type: 'object',
          required: ['version', 'value', 'delta', 'op', 'created_at', 'actor'],
          properties: {
            version: { type: 'integer', minimum: 1 },
            value: { type: 'integer' },
            delta: { type: 'integer', description: "value minus the previous entry's value" },
            op: { type: 'string', enum: ['increment', 'set'] },
            created_at: { type: 'string', format: 'date-time' },
            actor: { type: 'string', description: 'The IAM principal ARN that made the change.' },
            min: { ...INTEGER, description: "The counter's min after the change, while it has one." },
            max: { ...INTEGER, description: "The counter's max after the change, while it has one." },
          },
        },
        SeriesBucket: {
          type: 'object',
          required: ['start', 'delta', 'count', 'value'],
          properties: {
            start: { type: 'string', format: 'date-time', description: "The bucket's first instant (UTC)." },
            delta: { type: 'integer', description: "The sum of the bucket's changes." },
            count: { type: 'integer', minimum: 1, description: 'How many changes the bucket holds.' },
            value: { type: 'integer', description: "The value after the bucket's last change." },
          },
        },
        IncrementRequest: {
          type: 'object',
          additionalProperties: false,
          description:
            'No body, or an object; `by` defaults to 1 and may be negative, but not 0 (400: it would change ' +
            'nothing). A field given twice is a 400.',
          properties: { by: { ...INTEGER, not: { const: 0 } } },
        },
        SetRequest: {
          type: 'object',
          additionalProperties: false,
          description:
            'A field given twice is a 400. Bounds: a number sets one, null removes it, leaving it out keeps the ' +
            "counter's; the value must lie within the bounds given (400) and those kept (409).",
          required: ['value'],
          properties: {
            value: INTEGER,
            min: {
              oneOf: [INTEGER, { type: 'null' }],
              description: 'The lowest value the counter may take; null removes it. Not with shards (409).',
            },
            max: {
              oneOf: [INTEGER, { type: 'null' }],
              description: 'The highest value the counter may take; null removes it. Not with shards (409).',
            },
            shards: {
              type: 'integer',
              minimum: 1,
              maximum: MAX_SHARDS,
              description:
                'Creates the counter spread over this many items, for more than about 1,000 increments a second (docs/sharding.md). Only when the PUT creates the counter (409 otherwise); a sharded counter refuses sets (409).',
            },
          },
        },
        Problem: {
          type: 'object',
          description: 'RFC 9457 problem details (application/problem+json).',
          required: ['type', 'title', 'status', 'detail'],
          properties: {
            type: { type: 'string', description: '/problems/invalid-request, not-found, out-of-range, ...' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string', description: 'What was wrong, in words a user can act on.' },
          },
        },
        GatewayMessage: {
          type: 'object',
          required: ['message'],
          properties: { message: { type: 'string', examples: ['Forbidden'] } },
        },
      },
    },
  };
}

function operation(route: RouteSpec): Record<string, unknown> {
  const one = route.path.includes('{name}');
  const seed = route.path.startsWith('/counter') && !route.path.startsWith('/counters');
  const parameters: unknown[] = one ? [{ $ref: '#/components/parameters/name' }] : [];
  const changes = route.method !== 'GET';
  if (changes) {
    parameters.push({
      name: 'If-Match',
      in: 'header',
      required: false,
      description:
        'Apply only if the counter is at this version ("<version>"; "0": only if it does not exist yet); 412 otherwise.',
      schema: { type: 'string', pattern: '^"(0|[1-9][0-9]*)"$' },
    });
    parameters.push({
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      description:
        'Apply at most once per key and principal: a repeat of the same request within 24 hours answers the ' +
        'first answer again (Idempotent-Replayed: true) and changes nothing; another request with the key: ' +
        '422; a repeat while the first is in flight: 409.',
      schema: { type: 'string', pattern: '^[\\x20-\\x7e]{1,255}$' },
    });
  }
  if (route.method === 'POST') {
    parameters.push({
      name: 'Prefer',
      in: 'header',
      required: false,
      description:
        '`return=minimal` (RFC 7240): answer 204 without a body. A sharded counter is then not read after ' +
        "its increment, which is what lets a hot counter take its shards' full rate (docs/sharding.md).",
      schema: { type: 'string' },
    });
  }
  const isList = route.path === '/counters';
  const isHistory = route.path.endsWith('/history');
  const isSeries = route.path.endsWith('/series');
  if (isList) {
    parameters.push(
      { name: 'prefix', in: 'query', schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{0,128}$' } },
      queryLimit(MAX_LIST_LIMIT, 50),
      cursorParameter(),
    );
  }
  if (isHistory) parameters.push(queryLimit(MAX_HISTORY_LIMIT, 100), cursorParameter(), ...timeWindow());
  if (isSeries) {
    parameters.push(
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
    );
  }

  const responses: Record<string, unknown> = {};
  if (isList) responses['200'] = page('Counters ordered by name.', 'Counter');
  else if (isHistory)
    responses['200'] = page(
      'Changes, oldest first. A page never holds a version whose predecessors are not yet readable, so ' +
        'following Link while the counter changes yields every version exactly once, in order; the last ' +
        "page may stop short of the newest changes, which history shows once they are written (it follows the table's stream).",
      'HistoryEntry',
    );
  else if (isSeries) responses['200'] = page('Buckets with changes, oldest first.', 'SeriesBucket');
  else if (route.method === 'DELETE')
    responses['204'] = { description: 'Deleted; its history follows.', headers: replayedHeader() };
  else
    responses['200'] = {
      description: 'The counter.',
      headers: { ETag: { $ref: '#/components/headers/ETag' }, ...(changes ? replayedHeader() : {}) },
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Counter' } } },
    };
  if (route.method === 'POST') {
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
  if (route.method === 'GET' && (one || isHistory || isSeries))
    responses['404'] = problem('No counter of that name.');
  if (route.method === 'DELETE') responses['404'] = problem('No counter of that name.');
  if (changes) {
    responses['409'] = {
      ...problem(
        route.method === 'POST'
          ? "The change would leave the range (/problems/out-of-range) or the counter's bounds (/problems/out-of-bounds; nothing changed), or a request with the same Idempotency-Key is still in flight (retry after Retry-After)."
          : route.method === 'PUT'
            ? 'A request with the same Idempotency-Key is still in flight (retry after Retry-After); or, with nothing changed: the value is outside a bound the counter keeps (/problems/out-of-bounds), the counter is sharded (sets are refused), `shards` was given for a counter that exists or with bounds, or the value does not fit the shards asked for.'
            : 'A request with the same Idempotency-Key is still in flight; retry after Retry-After.',
      ),
      headers: { 'Retry-After': { schema: { type: 'integer' } } },
    };
    responses['412'] = problem('If-Match named another version; nothing changed.');
    responses['413'] = {
      description: `The body is over ${MAX_BODY_BYTES} bytes (problem+json), or over API Gateway's 10 MiB (its own message).`,
      content: {
        'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } },
        'application/json': { schema: { $ref: '#/components/schemas/GatewayMessage' } },
      },
    };
    responses['422'] = problem(
      'The Idempotency-Key was used before for a different request; nothing changed.',
    );
  }
  responses['429'] = {
    ...problem("Throttled; retry after the Retry-After header's seconds."),
    headers: { 'Retry-After': { schema: { type: 'integer' } } },
  };
  responses['500'] = problem('Failed on our side; safe to retry.');
  if (changes) {
    responses['503'] = {
      ...problem(
        "The counter's items were held by other transactions through every retry (/problems/contended; a " +
          "sharded counter's If-Match changes and deletes, keyed deletes); nothing changed. Not throttling: " +
          'retry after Retry-After.',
      ),
      headers: { 'Retry-After': { schema: { type: 'integer' } } },
    };
  }

  const body =
    route.method === 'POST'
      ? {
          required: false,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/IncrementRequest' } } },
        }
      : route.method === 'PUT'
        ? {
            required: true,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/SetRequest' } } },
          }
        : undefined;
  return {
    operationId: `${route.function.id}${seed ? '-default' : ''}`.replace(/-([a-z])/g, (_, c: string) =>
      c.toUpperCase(),
    ),
    summary: `${route.function.description}${seed ? ' (the counter "default")' : ''}`,
    description: `Needs the \`${route.access}\` grant (execute-api:Invoke on ${route.method}${route.path.replace('{name}', '*')}).`,
    ...(parameters.length === 0 ? {} : { parameters }),
    ...(body === undefined ? {} : { requestBody: body }),
    responses,
  };
}

function queryLimit(max: number, fallback: number) {
  return {
    name: 'limit',
    in: 'query',
    schema: { type: 'integer', minimum: 1, maximum: max, default: fallback },
  };
}

function replayedHeader() {
  return {
    'Idempotent-Replayed': {
      description:
        '"true" when this is the stored answer to an earlier request with the same Idempotency-Key.',
      schema: { type: 'string', enum: ['true'] },
    },
  };
}

function timeWindow() {
  // No `format: date-time`: RFC 3339 requires seconds, which these may leave out (2026-11-30T12:00Z).
  const instant = {
    type: 'string',
    description: 'An ISO 8601 instant in UTC; seconds and milliseconds may be left out.',
    pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,3})?)?Z$',
  };
  return [
    { name: 'since', in: 'query', description: 'From this UTC instant (inclusive).', schema: instant },
    {
      name: 'until',
      in: 'query',
      description: 'Up to this UTC instant (exclusive); after since.',
      schema: instant,
    },
  ];
}

function cursorParameter() {
  return {
    name: 'cursor',
    in: 'query',
    description:
      "Opaque; from the previous page's Link header. A cursor this API did not issue for this listing (another " +
      'counter, incarnation, prefix or interval, or a position it never gave out) is a 400.',
    schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,1024}$' },
  };
}

function page(description: string, item: string) {
  return {
    description,
    headers: { Link: { $ref: '#/components/headers/Link' } },
    content: {
      'application/json': { schema: { type: 'array', items: { $ref: `#/components/schemas/${item}` } } },
    },
  };
}

function problem(description: string) {
  return {
    description,
    content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
  };
}

export function renderOpenApi(): string {
  return `${JSON.stringify(buildOpenApi(), null, 2)}\n`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  writeFileSync(new URL('../openapi.json', import.meta.url), renderOpenApi());
}
