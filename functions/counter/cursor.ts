import * as z from 'zod/mini';
import { InvalidCursorError } from './errors.ts';
import { NAME_PATTERN, PREFIX_PATTERN } from './schema.ts';
import { HISTORY_PAGE_ENTRIES } from './table.ts';

/**
 * Pagination cursors are opaque to callers: base64url JSON naming where the last page ended. They
 * hold nothing secret and reach nothing the caller could not ask for directly, because the service
 * always derives the partition it reads from the request path and only the position from the cursor.
 *
 * A cursor is input like any other: it decodes into a schema that admits only what the service itself
 * issues (names and prefixes by the name rules, real bucket starts, versions in the safe range with
 * room for the arithmetic the reads do on them), and the service then checks it against the listing
 * it is given to (service.ts). Anything else is a 400, never a read with a position nobody issued.
 */
export function encodeCursor(position: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');
}

export function decodeCursor<T>(cursor: string, schema: z.ZodMiniType<T>): T {
  if (!/^[A-Za-z0-9_-]{1,1024}$/.test(cursor)) throw new InvalidCursorError();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError();
  }
  const parsed = schema.safeParse(decoded);
  if (!parsed.success) throw new InvalidCursorError();
  return parsed.data;
}

/**
 * The highest version a history cursor may name: a read adds 1 to it, and a sharded counter's read
 * looks up to HISTORY_PAGE_ENTRIES versions past its window, all of which must stay exact integers
 * (the SDK refuses to send an unsafe one, which would otherwise be a 500).
 */
export const MAX_CURSOR_VERSION = Number.MAX_SAFE_INTEGER - 2 * HISTORY_PAGE_ENTRIES;

/** `p`: the listing's prefix; `a`: the last name of the page, which the next page starts after. */
export const listCursor = z.strictObject({
  p: z.string().check(z.regex(PREFIX_PATTERN)),
  a: z.string().check(z.regex(NAME_PATTERN)),
});

/** A counter's incarnation id (a UUID today; the service compares it, never sends it to storage). */
const incarnation = z.string().check(z.regex(/^[\x21-\x7e]{1,64}$/));

/** `i`: the counter incarnation the listing read; `v`: the last version of the page. */
export const historyCursor = z.strictObject({
  i: incarnation,
  v: z.number().check(z.int(), z.minimum(1), z.maximum(MAX_CURSOR_VERSION)),
});

/** `i`: the counter incarnation; `s`: the start of the page's last bucket, a real UTC minute. */
export const seriesCursor = z.strictObject({
  i: incarnation,
  s: z.string().check(
    z.regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00\.000Z$/),
    // 2026-02-30T25:61 matches the shape but is no instant: reading it would throw.
    z.refine((start) => {
      const time = Date.parse(start);
      return !Number.isNaN(time) && new Date(time).toISOString() === start;
    }),
  ),
});
