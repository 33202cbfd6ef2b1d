import { ADDRESSABLE_NAME_PATTERN, MAX_SHARDS, NAME_PATTERN } from '../../functions/counter/schema.ts';

/** Written as an integer literal: 1.5, "10", 1e3, 10.0 and null are all 400s. */
const INTEGER = { type: 'integer', minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER };

/** What the API answers: a counter, a history entry, a series bucket. */
const ANSWER_SCHEMAS = {
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
};

/** What the changes take as their body. */
const REQUEST_SCHEMAS = {
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
};

/** The refusals: the service's problem details, and API Gateway's own message. */
const REFUSAL_SCHEMAS = {
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
};

/** The document's `components`, which the operations refer to with `$ref`. */
export const COMPONENTS = {
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
  schemas: { ...ANSWER_SCHEMAS, ...REQUEST_SCHEMAS, ...REFUSAL_SCHEMAS },
};
