import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type * as z from 'zod/mini';
import {
  decodeCursor,
  encodeCursor,
  historyCursor,
  listCursor,
  MAX_CURSOR_VERSION,
  seriesCursor,
} from '../../functions/counter/cursor.ts';
import { InvalidCursorError } from '../../functions/counter/errors.ts';

const SCHEMAS: Record<'list' | 'history' | 'series', z.ZodMiniType<unknown>> = {
  list: listCursor,
  history: historyCursor,
  series: seriesCursor,
};

/** A cursor whose JSON is `position`, as a forger would write it. */
const forged = (position: unknown) => Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');

describe('cursor schemas', () => {
  it.each([
    ['list', { p: '', a: 'a' }],
    ['list', { p: 'shop.', a: `shop.${'x'.repeat(123)}` }],
    ['history', { i: '2ec86be4-de71-4993-a91e-540e578d4a7d', v: 1 }],
    ['history', { i: 'inc-1', v: MAX_CURSOR_VERSION }],
    ['series', { i: 'inc-1', s: '2026-11-30T23:59:00.000Z' }],
    ['series', { i: 'inc-1', s: '2028-02-29T00:00:00.000Z' }],
  ] as const)('reads back the %s cursor the service issues for %j', (kind, position) => {
    // Act
    const decoded = decodeCursor(encodeCursor(position), SCHEMAS[kind]);

    // Assess
    expect(decoded).toEqual(position);
  });

  it.each([
    ['list', 'a name with a lone surrogate', { p: '', a: '\ud800' }],
    ['list', 'a name with a space', { p: '', a: 'a b' }],
    ['list', "a name with the keys' separator", { p: '', a: 'a#1' }],
    ['list', 'an empty name', { p: '', a: '' }],
    ['list', 'a name over 128 characters', { p: '', a: 'x'.repeat(129) }],
    ['list', 'a prefix with a slash', { p: 'a/', a: 'a/b' }],
    ['list', 'a number for a name', { p: '', a: 1 }],
    ['history', 'version 0', { i: 'inc-1', v: 0 }],
    ['history', 'a negative version', { i: 'inc-1', v: -1 }],
    ['history', 'a fractional version', { i: 'inc-1', v: 1.5 }],
    ['history', 'the largest safe integer', { i: 'inc-1', v: Number.MAX_SAFE_INTEGER }],
    ['history', 'a version past the bound', { i: 'inc-1', v: MAX_CURSOR_VERSION + 1 }],
    ['history', 'a huge version', { i: 'inc-1', v: 1e300 }],
    ['history', 'a version as text', { i: 'inc-1', v: '3' }],
    ['history', 'an empty incarnation', { i: '', v: 1 }],
    ['history', 'an incarnation with a space', { i: 'a b', v: 1 }],
    ['history', 'an incarnation over 64 characters', { i: 'i'.repeat(65), v: 1 }],
    ['history', 'an extra field', { i: 'inc-1', v: 1, x: 1 }],
    ['series', 'a day that does not exist', { i: 'inc-1', s: '2026-02-30T00:00:00.000Z' }],
    ['series', 'an hour that does not exist', { i: 'inc-1', s: '2026-11-30T25:00:00.000Z' }],
    ['series', 'a start within a minute', { i: 'inc-1', s: '2026-11-30T10:00:30.000Z' }],
    ['series', 'a start with an offset', { i: 'inc-1', s: '2026-11-30T10:00:00.000+01:00' }],
    ['series', 'a start as a number', { i: 'inc-1', s: 1764496800000 }],
    ['series', 'no incarnation', { s: '2026-11-30T10:00:00.000Z' }],
  ] as const)('refuses a %s cursor with %s', (kind, _what, position) => {
    // Act
    const decode = () => decodeCursor(forged(position), SCHEMAS[kind]);

    // Assess
    expect(decode).toThrow(InvalidCursorError);
  });

  it.each([
    ['not base64url', 'not a cursor!'],
    ['too long', 'A'.repeat(1025)],
    ['base64url but not JSON', Buffer.from('{"p":').toString('base64url')],
    ['JSON null', forged(null)],
    ['a JSON array', forged(['', 'a'])],
  ])('refuses a cursor that is %s', (_what, cursor) => {
    // Act
    const decode = () => decodeCursor(cursor, listCursor);

    // Assess
    expect(decode).toThrow(InvalidCursorError);
  });

  it('answers any text or any JSON with a position of the schema or InvalidCursorError, never another error', () => {
    const anyCursor = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.string({ unit: 'binary', maxLength: 100 }),
      fc.jsonValue({ maxDepth: 3 }).map(forged),
      fc
        .record(
          {
            p: fc.oneof(fc.string(), fc.jsonValue()),
            a: fc.oneof(fc.string(), fc.jsonValue()),
            i: fc.oneof(fc.constant('inc-1'), fc.string(), fc.jsonValue()),
            v: fc.oneof(fc.integer(), fc.double(), fc.maxSafeInteger(), fc.jsonValue()),
            s: fc.oneof(
              fc.date().map((date) => (Number.isNaN(date.getTime()) ? '' : date.toISOString())),
              fc.string(),
            ),
          },
          { requiredKeys: [] },
        )
        .map(forged),
    );
    fc.assert(
      fc.property(anyCursor, fc.constantFrom(...Object.values(SCHEMAS)), (cursor, schema) => {
        // Act
        let decoded: unknown;
        try {
          decoded = decodeCursor(cursor, schema);
        } catch (error) {
          // Assess
          expect(error).toBeInstanceOf(InvalidCursorError);
          return;
        }
        expect(schema.safeParse(decoded).success).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});
