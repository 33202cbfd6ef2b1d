import { marshall } from '@aws-sdk/util-dynamodb';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { itemSize } from '../../bench/item-size.ts';
import {
  decodePage,
  decodeSources,
  encodePage,
  encodeSources,
} from '../../functions/counter/history-page.ts';
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

describe('a history page’s sources (which shard change each entry was)', () => {
  it('come back as they went in: each shard’s changes in its order, interleaved as the consumer numbered them', () => {
    // Prepare
    const sources = [
      { shard: 0, shardVersion: 1 },
      { shard: 3, shardVersion: 17 },
      { shard: 31, shardVersion: 9 },
      { shard: 3, shardVersion: 18 },
      { shard: 0, shardVersion: 2 },
      { shard: 3, shardVersion: 19 },
    ];

    // Act
    const stored = encodeSources(sources);

    // Assess
    expect(stored).toEqual({ shards: '03v303', shard_first: { '0': 1, '3': 17, '31': 9 } });
    expect(decodeSources(stored, sources.length)).toEqual(sources);
  });

  it('are left out when a shard’s changes in the page skip a version, rather than stored wrong', () => {
    expect(
      encodeSources([
        { shard: 1, shardVersion: 4 },
        { shard: 1, shardVersion: 6 },
      ]),
    ).toBeUndefined();
    expect(encodeSources([{ shard: 32, shardVersion: 1 }])).toBeUndefined();
  });

  it('are unknown for a page written without them, or whose count does not match its entries', () => {
    const page = {
      first_version: 1,
      value_before: 0,
      time: '2026-11-30T12:00:00.000Z',
      actors: ['a'],
      changes: [],
    };
    expect(decodeSources(page, 1)).toBeUndefined();
    expect(decodeSources({ shards: '01', shard_first: { '0': 1, '1': 1 } }, 3)).toBeUndefined();
    expect(decodeSources({ shards: '02', shard_first: { '0': 1 } }, 2)).toBeUndefined();
  });

  it('add about one byte per change to a page of 100 changes over 8 shards', () => {
    // Prepare
    const sources = Array.from({ length: 100 }, (_, i) => ({
      shard: i % 8,
      shardVersion: 50_000 + Math.floor(i / 8),
    }));

    // Act
    const stored = encodeSources(sources);

    // Assess
    expect(stored).toBeDefined();
    expect(itemSize(marshall(stored))).toBeLessThan(100 + 8 * 12 + 30);
  });
});
