import * as z from 'zod/mini';
import { InvalidCursorError } from './errors.ts';

/**
 * Pagination cursors are opaque to callers: base64url JSON naming where the last page ended. They
 * hold nothing secret and reach nothing the caller could not ask for directly, because the service
 * always derives the partition it reads from the request path and only the position from the cursor.
 * A cursor that does not decode to the expected shape, or belongs to another listing, is a 400.
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

export const listCursor = z.strictObject({
  p: z.string().check(z.maxLength(128)),
  a: z.string().check(z.minLength(1), z.maxLength(128)),
});
const incarnation = z.string().check(z.minLength(1), z.maxLength(64));
export const historyCursor = z.strictObject({ i: incarnation, v: z.number().check(z.int(), z.positive()) });
export const seriesCursor = z.strictObject({
  i: incarnation,
  s: z.string().check(z.regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00\.000Z$/)),
});
