/** The pieces several operations share: paging, time windows, problem answers. */

export function queryLimit(max: number, fallback: number) {
  return {
    name: 'limit',
    in: 'query',
    schema: { type: 'integer', minimum: 1, maximum: max, default: fallback },
  };
}

export function replayedHeader() {
  return {
    'Idempotent-Replayed': {
      description:
        '"true" when this is the stored answer to an earlier request with the same Idempotency-Key.',
      schema: { type: 'string', enum: ['true'] },
    },
  };
}

export function timeWindow() {
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

export function cursorParameter() {
  return {
    name: 'cursor',
    in: 'query',
    description:
      "Opaque; from the previous page's Link header. A cursor this API did not issue for this listing (another " +
      'counter, incarnation, prefix or interval, or a position it never gave out) is a 400.',
    schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,1024}$' },
  };
}

export function page(description: string, item: string) {
  return {
    description,
    headers: { Link: { $ref: '#/components/headers/Link' } },
    content: {
      'application/json': { schema: { type: 'array', items: { $ref: `#/components/schemas/${item}` } } },
    },
  };
}

export function problem(description: string) {
  return {
    description,
    content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
  };
}
