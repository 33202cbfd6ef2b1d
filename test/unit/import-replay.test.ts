import { describe, expect, it } from 'vitest';
import type { Counter } from '../../client/counter-client.ts';
import { CounterApiError } from '../../client/errors.ts';
import type { HistoryLine } from '../../client/export-format.ts';
import {
  mismatchOf,
  nextKey,
  type PendingCounter,
  refusalReason,
  replayOf,
} from '../../client/import-replay.ts';

const COUNTER: Counter = {
  name: 'page-views',
  value: 5,
  version: 3,
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:02.000Z',
};

function pending(overrides: Partial<PendingCounter> = {}, counter: Partial<Counter> = {}): PendingCounter {
  return {
    counter: { ...COUNTER, ...counter },
    applied: 0,
    failed: false,
    replayedAll: true,
    bounds: {},
    ...overrides,
  };
}

function entry(fields: Partial<HistoryLine>): HistoryLine {
  return {
    type: 'history',
    name: 'page-views',
    version: 1,
    value: 2,
    delta: 2,
    op: 'set',
    created_at: '2026-01-01T00:00:00.000Z',
    actor: 'arn:aws:iam::123456789012:user/alice',
    ...fields,
  };
}

describe('replayOf', () => {
  it('replays an increment by its delta, under a key derived from the file alone', () => {
    const replay = replayOf(
      entry({ version: 2, value: 5, delta: 3, op: 'increment', created_at: '2026-01-01T00:00:01.000Z' }),
      pending({ applied: 1 }),
      '',
    );

    // Written out: a key that changed would make a re-run of an earlier import apply its changes again.
    expect(replay).toEqual({
      change: { op: 'increment', by: 3 },
      key: 'counter-import:f936b6e0017c4d12fa9bda62289cd89b40c4eadd2acaab420aeacd83d701e37c',
      creatingSharded: false,
    });
  });

  it('gives a sharded counter its shards with the set that creates it, and in that key only', () => {
    const replay = replayOf(
      entry({ name: 'hot', value: 10, delta: 10 }),
      pending({}, { name: 'hot', value: 10, version: 1, shards: 4 }),
      '',
    );

    expect(replay).toEqual({
      change: { op: 'set', value: 10, shards: 4 },
      key: 'counter-import:0d248de8a1b7d11b9f851409bddd19bf301043833e6b948a7580d50afbfd5887',
      creatingSharded: true,
    });
  });

  it('replays an increment by 0, which the service refuses, as a set of the value it left', () => {
    const replay = replayOf(
      entry({ version: 2, value: 2, delta: 0, op: 'increment' }),
      pending({ applied: 1 }),
      '',
    );

    expect(replay).toMatchObject({ change: { op: 'set', value: 2 }, creatingSharded: false });
  });

  it('sends with a set only the bounds it changed: a new one as a number, a removed one as null', () => {
    const replay = replayOf(
      entry({ version: 2, value: 4, delta: 2, max: 10 }),
      pending({ applied: 1, bounds: { min: 0 } }),
      '',
    );

    expect(replay).toMatchObject({ change: { op: 'set', value: 4, min: null, max: 10 } });
  });

  it('mixes the salt into the key, so another salt imports afresh', () => {
    const keyOf = (replay: ReturnType<typeof replayOf>) => (typeof replay === 'string' ? replay : replay.key);

    expect(keyOf(replayOf(entry({}), pending(), 'again'))).not.toBe(
      keyOf(replayOf(entry({}), pending(), '')),
    );
  });

  it('refuses a history that skips a version, or goes past the counter line', () => {
    expect(replayOf(entry({ version: 3 }), pending({ applied: 1 }), '')).toBe(
      'its history jumps from version 1 to 3 (counter at 3)',
    );
    expect(replayOf(entry({ version: 4 }), pending({ applied: 3 }), '')).toBe(
      'its history jumps from version 3 to 4 (counter at 3)',
    );
  });

  it('refuses a sharded counter whose first change is not a set, and one with an increment by 0', () => {
    const sharded = { shards: 4 };

    expect(replayOf(entry({ op: 'increment' }), pending({}, sharded), '')).toBe(
      'it is spread over 4 shards, which only the set that creates it can give, but version 1 in the ' +
        'file is an increment; not imported',
    );
    expect(
      replayOf(entry({ version: 2, delta: 0, op: 'increment' }), pending({ applied: 1 }, sharded), ''),
    ).toBe(
      'version 2 in the file is an increment by 0, which the service refuses, and a counter spread over ' +
        '4 shards cannot take the set that would stand in for it; imported up to version 1',
    );
  });
});

describe('mismatchOf', () => {
  const creating = { change: { op: 'set' as const, value: 10, shards: 4 }, key: 'k', creatingSharded: true };

  it('says when the service answered another value or version than the entry records', () => {
    expect(mismatchOf({ ...COUNTER, value: 6, version: 1 }, entry({ value: 2 }), creating, 4)).toBe(
      'replaying version 1 gave value 6 version 1, not value 2',
    );
  });

  it('says when the set that creates a sharded counter gave other shards', () => {
    const result = { ...COUNTER, value: 2, version: 1 };

    expect(mismatchOf(result, entry({}), creating, 4)).toBe(
      'replaying version 1 gave a counter without shards, not one of 4 shards',
    );
    expect(mismatchOf({ ...result, shards: 4 }, entry({}), creating, 4)).toBeUndefined();
  });
});

describe('refusalReason', () => {
  const refusal = (replayed: boolean) =>
    new CounterApiError({ status: 412, detail: 'The counter is at version 1.', attempts: 1, replayed });

  it('points at the counter in the way when the first change is refused with 412', () => {
    expect(refusalReason(1, refusal(false), 0)).toBe(
      'version 1 was refused: The counter is at version 1; a counter of that name exists apart from this ' +
        'import and was left as it was (delete it to import it)',
    );
  });

  it('says a refusal came from earlier runs, and how to ask afresh', () => {
    expect(refusalReason(1, refusal(true), 2)).toBe(
      'version 1 was refused by 3 earlier imports of this file (answers are kept 24 hours), the last time ' +
        'with: The counter is at version 1; import with another salt (counter import --salt TEXT) to ask afresh',
    );
  });
});

describe('nextKey', () => {
  it('walks a chain of keys every run walks alike', () => {
    expect(nextKey('counter-import:abc', 1)).toBe(nextKey('counter-import:abc', 1));
    expect(nextKey('counter-import:abc', 1)).not.toBe(nextKey('counter-import:abc', 2));
    expect(nextKey('counter-import:abc', 1)).toMatch(/^counter-import:[0-9a-f]{64}$/);
  });
});
