import { marshall } from '@aws-sdk/util-dynamodb';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { itemSize } from '../../bench/item-size.ts';
import { decodePage, encodePage } from '../../functions/counter/history-page.ts';
import type { HistoryEntry } from '../../functions/counter/schema.ts';

const ACTORS = [
  'arn:aws:sts::111111111111:assumed-role/CounterWriter/i-0abc123def4567890',
  'arn:aws:iam::111111111111:user/ci',
  'arn:aws:iam::222222222222:root',
];

/** Consecutive entries from `first`, each value the previous one's plus its delta, as numberChanges makes them. */
const entryChains = fc
  .record({
    first: fc.integer({ min: 1, max: 1_000_000 }),
    before: fc.integer({ min: -1_000_000_000, max: 1_000_000_000 }),
    start: fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2030, 0, 1) }),
    changes: fc.array(
      fc.record({
        delta: fc.integer({ min: -1_000_000, max: 1_000_000 }),
        // Shards' changes come in the consumer's order, not always in time order.
        offsetMs: fc.integer({ min: -5_000, max: 60_000 }),
        actor: fc.constantFrom(...ACTORS),
        // Times the handlers never write, which must still come back character for character.
        odd: fc.constantFrom(undefined, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00.5+01:00', 'not a time'),
      }),
      { minLength: 1, maxLength: 100 },
    ),
    firstIsSet: fc.boolean(),
  })
  .map(({ first, before, start, changes, firstIsSet }) => {
    let value = before;
    return changes.map((change, i): HistoryEntry => {
      value += change.delta;
      return {
        version: first + i,
        value,
        delta: change.delta,
        op: i === 0 && firstIsSet ? 'set' : 'increment',
        created_at: change.odd ?? new Date(start + change.offsetMs).toISOString(),
        actor: change.actor,
      };
    });
  });

describe('history pages', () => {
  it('give back exactly the entries they were made of', () => {
    fc.assert(
      fc.property(entryChains, (entries) => {
        expect(decodePage(encodePage(entries))).toEqual(entries);
      }),
    );
  });

  it('survive the trip through DynamoDB JSON', () => {
    fc.assert(
      fc.property(entryChains, (entries) => {
        const stored = JSON.parse(JSON.stringify(encodePage(entries)));
        expect(decodePage(stored)).toEqual(entries);
      }),
    );
  });

  it('write each actor once and a time as milliseconds after the first', () => {
    // Prepare
    const entries: HistoryEntry[] = [
      {
        version: 7,
        value: 11,
        delta: 1,
        op: 'increment',
        created_at: '2026-11-30T12:00:00.000Z',
        actor: 'a',
      },
      {
        version: 8,
        value: 13,
        delta: 2,
        op: 'increment',
        created_at: '2026-11-30T12:00:00.250Z',
        actor: 'b',
      },
      {
        version: 9,
        value: 10,
        delta: -3,
        op: 'increment',
        created_at: '2026-11-30T11:59:59.990Z',
        actor: 'a',
      },
    ];

    // Act
    const page = encodePage(entries);

    // Assess
    expect(page).toEqual({
      first_version: 7,
      value_before: 10,
      time: '2026-11-30T12:00:00.000Z',
      actors: ['a', 'b'],
      changes: [
        [1, 0, 0],
        [2, 250, 1],
        [-3, -10, 0],
      ],
    });
  });

  it('refuse entries that are not one chain, rather than store a history they would not give back', () => {
    const entry = (version: number, value: number, delta: number): HistoryEntry => ({
      version,
      value,
      delta,
      op: 'increment',
      created_at: '2026-11-30T12:00:00.000Z',
      actor: 'a',
    });

    expect(() => encodePage([entry(1, 1, 1), entry(3, 2, 1)])).toThrow(/does not follow/);
    expect(() => encodePage([entry(1, 1, 1), entry(2, 5, 1)])).toThrow(/does not follow/);
    expect(() => encodePage([])).toThrow(/at least one entry/);
  });

  it('refuse a stored page that names an actor it does not hold', () => {
    expect(() =>
      decodePage({
        first_version: 1,
        value_before: 0,
        time: '2026-11-30T12:00:00.000Z',
        actors: [],
        changes: [[1, 0, 0]],
      }),
    ).toThrow(/no actor 0/);
  });

  it('hold 100 changes of one principal in about 1.5 KB, where 100 entries took 16 KB', () => {
    // Prepare: a hot counter's step, as bench/item-size.ts counts DynamoDB's bytes.
    const entries = Array.from(
      { length: 100 },
      (_, i): HistoryEntry => ({
        version: 10_000 + i,
        value: 100_000 + i,
        delta: 1,
        op: 'increment',
        created_at: new Date(Date.UTC(2026, 10, 30, 12, 0, 0, 3 * i)).toISOString(),
        actor: ACTORS[0] ?? '',
      }),
    );
    const key = { counter: 'page-views#0b5f7e2c-1111-4222-8333-944445555666', version: 10_099 };

    // Act
    const compact = itemSize(marshall({ ...key, ...encodePage(entries) }));
    const plain = itemSize(marshall({ ...key, entries }));

    // Assess
    expect(compact).toBeLessThan(2048);
    expect(plain).toBeGreaterThan(15_000);
  });
});
