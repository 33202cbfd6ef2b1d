// zod/mini: the same validation as zod with a fraction of its size, which every Lambda bundle and cold
// start pays for (docs/performance.md).
import * as z from 'zod/mini';
import { INTERVALS } from './series.ts';

/** The largest integer JSON numbers (IEEE 754 doubles) keep exactly. */
export const MAX_VALUE = Number.MAX_SAFE_INTEGER;
export const MIN_VALUE = -Number.MAX_SAFE_INTEGER;

/** The counter the seed's `/counter` routes address. It reads as 0 until first changed. */
export const DEFAULT_COUNTER = 'default';

/** The characters and length of a name, as stored. */
export const NAME_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * A name a request may address: NAME_PATTERN, and not dots alone. URLs resolve the path segments `.`
 * and `..` away (RFC 3986 section 5.2.4), and many HTTP clients do so before sending, so a counter of
 * such a name could be created by some callers and never reached by others.
 */
export const ADDRESSABLE_NAME_PATTERN = /^(?!\.+$)[A-Za-z0-9._:-]{1,128}$/;

/** A listing's prefix: up to 128 name characters. */
export const PREFIX_PATTERN = /^[A-Za-z0-9._:-]{0,128}$/;

const NAME_MESSAGE = 'a counter name is 1 to 128 characters from A-Z a-z 0-9 . _ : -';

/** A name as stored: what the service accepted when it was written. */
const storedName = z.string().check(z.regex(NAME_PATTERN, NAME_MESSAGE));

/** A name in a request path. */
export const counterName = z.string().check(
  z.regex(NAME_PATTERN, NAME_MESSAGE),
  // The empty name is the pattern's to refuse, so it gets one message.
  z.refine(
    (name) => name === '' || !/^\.+$/.test(name),
    'a counter name must contain a character other than "." (URLs resolve "." and ".." away)',
  ),
);

export const counterValue = z
  .number()
  .check(
    z.int('must be a whole number'),
    z.minimum(MIN_VALUE, `must be at least ${MIN_VALUE}`),
    z.maximum(MAX_VALUE, `must be at most ${MAX_VALUE}`),
  );

const positiveInteger = z.number().check(z.int(), z.positive());

/**
 * Hot counters may be spread over up to this many items (docs/sharding.md). A read of a sharded
 * counter is one TransactGetItems of all of them, which takes at most 100.
 */
export const MAX_SHARDS = 32;
const shardCount = z.number().check(z.int(), z.minimum(2), z.maximum(MAX_SHARDS));

export const operation = z.enum(['increment', 'set']);
export type Operation = z.infer<typeof operation>;

/** A counter as the API shows it. */
export interface Counter {
  name: string;
  value: number;
  version: number;
  created_at: string | null;
  updated_at: string | null;
  /** Present only for a counter spread over several items (docs/sharding.md). */
  shards?: number;
  /** Present only while the counter is bounded: no change may take its value below min or above max. */
  min?: number;
  max?: number;
}

/** A bound given in a set: a number sets it, null removes it, absent keeps what the counter has. */
export type BoundChange = number | null | undefined;

/**
 * A counter item as stored. `incarnation` is fixed when the item is created: history is keyed by it,
 * so a counter deleted and created again starts afresh and nothing of the old one shows through.
 * `op` and `actor` describe the last change, so the stream carries them to the history.
 */
export const storedCounter = z.object({
  name: storedName,
  value: counterValue,
  version: positiveInteger,
  created_at: z.string(),
  updated_at: z.string(),
  incarnation: z.string().check(z.minLength(1)),
  op: operation,
  actor: z.string(),
  /** Set when the counter was created spread over this many items; this item is shard 0. */
  shards: z.optional(shardCount),
  /** The attempt of the last keyed change that wrote this item (table.ts TAG_ATTEMPT). */
  tag_attempt: z.optional(z.string()),
  /** The counter's bounds, while it has them (change-rules.ts withinBounds). */
  min: z.optional(counterValue),
  max: z.optional(counterValue),
});
/**
 * A counter as the repository returns it. For a sharded counter, value and version are the sums over
 * its shards read in one snapshot, and `shardVersions` lists each shard's own version, index by index.
 */
export type StoredCounter = StoredCounterItem & { shardVersions?: number[] };
/** The counter's own item, as the table and its stream hold it. */
export type StoredCounterItem = z.infer<typeof storedCounter>;

/**
 * Shard 1..N-1 of a sharded counter: its own item in the counters table, keyed `<name>#<index>`
 * (table.ts shardKey), with no `kind`, so the `by-name` index never lists it.
 */
export const storedShard = z.object({
  name: z.string(),
  counter: storedName,
  shard: z.number().check(z.int(), z.minimum(1), z.maximum(MAX_SHARDS - 1)),
  value: counterValue,
  version: z.number().check(z.int(), z.nonnegative()),
  updated_at: z.string(),
  incarnation: z.string().check(z.minLength(1)),
  op: operation,
  actor: z.string(),
});
export type StoredShard = z.infer<typeof storedShard>;

/** One change in a counter's history, as the API shows it. */
export interface HistoryEntry {
  version: number;
  value: number;
  delta: number;
  op: Operation;
  created_at: string;
  actor: string;
  /** The counter's bounds after the change, while it has them. */
  min?: number;
  max?: number;
}

export const historyEntry = z.pipe(
  z.object({
    version: positiveInteger,
    value: counterValue,
    delta: z.number().check(z.int()),
    op: operation,
    created_at: z.string(),
    actor: z.string(),
    min: z.optional(counterValue),
    max: z.optional(counterValue),
  }),
  // Exactly the API's fields: an item's keys and expiry stay out.
  z.transform(
    ({ min, max, ...entry }): HistoryEntry => ({
      ...entry,
      ...(min === undefined ? {} : { min }),
      ...(max === undefined ? {} : { max }),
    }),
  ),
);

/** A rollup item as stored; what the API shows of it. */
export const seriesBucket = z.pipe(
  z.object({
    start: z.string(),
    delta: z.number().check(z.int()),
    count: z.number().check(z.int(), z.nonnegative()),
    value: counterValue,
  }),
  z.transform(({ start, delta, count, value }) => ({ start, delta, count, value })),
);

export function toCounter(stored: StoredCounter): Counter {
  return {
    name: stored.name,
    value: stored.value,
    version: stored.version,
    created_at: stored.created_at,
    updated_at: stored.updated_at,
    ...(stored.shards === undefined ? {} : { shards: stored.shards }),
    ...(stored.min === undefined ? {} : { min: stored.min }),
    ...(stored.max === undefined ? {} : { max: stored.max }),
  };
}

/** The never-changed default counter: it reads as 0 at version 0. */
export function untouchedDefault(): Counter {
  return { name: DEFAULT_COUNTER, value: 0, version: 0, created_at: null, updated_at: null };
}

// Request shapes. Numbers arrive already checked to be integer literals in range (json-body.ts);
// these say which fields may appear and what each must be.

const wholeNumber = z.number({
  error: (issue) =>
    issue.input === undefined ? 'is required' : `must be a whole number; got ${describeInput(issue.input)}`,
});

/** An increment by 0 would bump the version and write a history entry for nothing: refused. */
const nonZero = z
  .number()
  .check(
    z.refine((by) => by !== 0, 'must be a non-zero whole number (an increment by 0 would change nothing)'),
  );

export const incrementBody = z.strictObject(
  { by: z.optional(z.pipe(wholeNumber, z.pipe(counterValue, nonZero))) },
  { error: 'must be a JSON object such as {"by": 5}' },
);

const bound = z.optional(
  z.nullable(
    z.number({
      error: (issue) =>
        `must be a whole number, or null to remove the bound; got ${describeInput(issue.input)}`,
    }),
  ),
);

export const setBody = z
  .strictObject(
    {
      value: z.pipe(wholeNumber, counterValue),
      min: bound,
      max: bound,
      shards: z.optional(
        z.pipe(
          wholeNumber,
          z
            .number()
            .check(
              z.int(`must be a whole number from 1 to ${MAX_SHARDS}`),
              z.minimum(1, `must be a whole number from 1 to ${MAX_SHARDS}`),
              z.maximum(MAX_SHARDS, `must be a whole number from 1 to ${MAX_SHARDS}`),
            ),
        ),
      ),
    },
    {
      error:
        'must be a JSON object such as {"value": 10}, {"value": 50, "min": 0} or {"value": 0, "shards": 8}',
    },
  )
  .check(
    z.refine((body) => typeof body.min !== 'number' || typeof body.max !== 'number' || body.min <= body.max, {
      message: 'min must not be above max',
      path: ['min'],
    }),
    z.refine((body) => typeof body.min !== 'number' || body.value >= body.min, {
      message: 'value must not be below min',
      path: ['value'],
    }),
    z.refine((body) => typeof body.max !== 'number' || body.value <= body.max, {
      message: 'value must not be above max',
      path: ['value'],
    }),
  );

export const counterPath = z.object({ name: counterName });

const limit = (max: number, fallback: number) =>
  z._default(
    z.pipe(
      z.pipe(
        z.string().check(z.regex(/^[1-9][0-9]*$/, `must be a whole number from 1 to ${max}`)),
        z.transform(Number),
      ),
      z.number().check(z.maximum(max, `must be a whole number from 1 to ${max}`)),
    ),
    fallback,
  );

const nonEmpty = z.optional(z.string().check(z.minLength(1)));

export const MAX_LIST_LIMIT = 100;
export const MAX_HISTORY_LIMIT = 1000;

export const listQuery = z.strictObject({
  prefix: z._default(
    z.string().check(z.regex(PREFIX_PATTERN, 'must be up to 128 characters from A-Z a-z 0-9 . _ : -')),
    '',
  ),
  limit: limit(MAX_LIST_LIMIT, 50),
  cursor: nonEmpty,
});

/** An instant in UTC, as `2026-11-30T12:00:00Z` (seconds and milliseconds optional); normalized to toISOString(). */
const instant = z.pipe(
  z.string().check(
    z.regex(
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?Z$/,
      'must be an ISO 8601 instant in UTC, such as 2026-11-30T12:00:00Z',
    ),
    z.refine((text) => !Number.isNaN(Date.parse(text)), 'is not a real date and time'),
  ),
  z.transform((text: string) => new Date(text).toISOString()),
);

const window = <T extends { since?: string | undefined; until?: string | undefined }>(query: T) =>
  query.since === undefined || query.until === undefined || query.since < query.until;
const WINDOW_MESSAGE = { message: 'since must be before until', path: ['until'] };

export const historyQuery = z
  .strictObject({
    limit: limit(MAX_HISTORY_LIMIT, 100),
    cursor: nonEmpty,
    since: z.optional(instant),
    until: z.optional(instant),
  })
  .check(z.refine(window, WINDOW_MESSAGE));

export const MAX_SERIES_LIMIT = 1440;

export const seriesQuery = z
  .strictObject({
    interval: z.enum(INTERVALS, { error: 'must be one of minute, hour, day' }),
    limit: limit(MAX_SERIES_LIMIT, 100),
    cursor: nonEmpty,
    since: z.optional(instant),
    until: z.optional(instant),
  })
  .check(z.refine(window, WINDOW_MESSAGE));

function describeInput(input: unknown): string {
  if (input === null) return 'null';
  if (typeof input === 'string') return `the string ${JSON.stringify(input.slice(0, 40))}`;
  if (Array.isArray(input)) return 'an array';
  return typeof input;
}
