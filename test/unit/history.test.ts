import { describe, expect, it } from 'vitest';
import { SequencerNotReadyError } from '../../functions/counter/errors.ts';
import { numberChanges, type SequencerState, toHistoryAction } from '../../functions/counter/history.ts';
import { counterItem } from '../support/counter-items.ts';
import { ACTOR, at, KEY, rootImage, shardChange, shardImage, T0 } from '../support/sharded-changes.ts';

/** A counter's stream image: the item as the counters table holds it. */
const image = counterItem;

describe('toHistoryAction', () => {
  it('records an inserted counter with delta equal to its value', () => {
    // Prepare
    const created = image({ value: 7, version: 1, updated_at: '2025-01-02T03:04:05.000Z' });

    // Act
    const action = toHistoryAction(undefined, created);

    // Assess
    expect(action).toEqual({
      kind: 'record',
      key: 'a#inc-1',
      entry: {
        version: 1,
        value: 7,
        delta: 7,
        op: 'increment',
        created_at: '2025-01-02T03:04:05.000Z',
        actor: 'arn:aws:iam::000000000000:user/tester',
      },
    });
  });

  it('records a modification with delta equal to new minus old', () => {
    // Prepare
    const before = image({ value: 10, version: 4 });
    const after = image({ value: 3, version: 5 });

    // Act
    const action = toHistoryAction(before, after);

    // Assess
    expect(action).toMatchObject({
      kind: 'record',
      key: 'a#inc-1',
      entry: { version: 5, value: 3, delta: -7 },
    });
  });

  it('records a set with op "set" and its delta', () => {
    // Prepare
    const before = image({ value: 10, version: 2 });
    const after = image({ value: 100, version: 3, op: 'set' });

    // Act
    const action = toHistoryAction(before, after);

    // Assess
    expect(action).toMatchObject({ kind: 'record', entry: { op: 'set', delta: 90, value: 100 } });
  });

  it('purges the history of the removed incarnation', () => {
    // Prepare
    const removed = image({ name: 'shop.x', incarnation: 'inc-9', version: 12 });

    // Act
    const action = toHistoryAction(removed, undefined);

    // Assess
    expect(action).toEqual({ kind: 'purge', key: 'shop.x#inc-9', sharded: false });
  });

  it('treats old and new images of different incarnations as a creation of the new one', () => {
    // Prepare
    const before = image({ incarnation: 'inc-1', value: 50, version: 9 });
    const after = image({ incarnation: 'inc-2', value: 4, version: 1 });

    // Act
    const action = toHistoryAction(before, after);

    // Assess
    expect(action).toMatchObject({
      kind: 'record',
      key: 'a#inc-2',
      entry: { version: 1, value: 4, delta: 4 },
    });
  });

  it('ignores a write that left the version as it was', () => {
    // Prepare
    const before = image({ version: 3 });
    const after = image({ version: 3, updated_at: '2025-02-01T00:00:00.000Z' });

    // Act
    const action = toHistoryAction(before, after);

    // Assess
    expect(action).toEqual({ kind: 'ignore' });
  });

  it('ignores a change with neither image', () => {
    // Act
    const action = toHistoryAction(undefined, undefined);

    // Assess
    expect(action).toEqual({ kind: 'ignore' });
  });

  it.each([
    ['a new image without a version', undefined, { ...image(), version: undefined }],
    ['a new image whose value is a string', undefined, { ...image(), value: '1' }],
    ['an old image that is not an object', 'garbage', image()],
    ['a removed image without an incarnation', { ...image(), incarnation: undefined }, undefined],
  ])('throws on %s', (_what, oldImage, newImage) => {
    // Act
    const decide = () => toHistoryAction(oldImage, newImage);

    // Assess
    expect(decide).toThrow();
  });
});

describe('toHistoryAction for a sharded counter', () => {
  it('ignores a shard’s creation at version 0: it is no change of the counter', () => {
    // Act
    const action = toHistoryAction(undefined, shardImage(2));

    // Assess
    expect(action).toEqual({ kind: 'ignore' });
  });

  it('ignores a shard’s removal: the counter’s own item’s removal purges the history', () => {
    // Act
    const action = toHistoryAction(shardImage(2, { value: 4, version: 3 }), undefined);

    // Assess
    expect(action).toEqual({ kind: 'ignore' });
  });

  it('sequences a shard’s change under the counter’s key, with its shard version and delta new - old', () => {
    // Prepare
    const before = shardImage(2, { value: 4, version: 3 });
    const after = shardImage(2, { value: 1, version: 4, updated_at: at(9), actor: 'arn:other' });

    // Act
    const action = toHistoryAction(before, after);

    // Assess
    expect(action).toEqual({
      kind: 'sequence',
      key: KEY,
      change: {
        shard: 2,
        shardVersion: 4,
        delta: -3,
        op: 'increment',
        created_at: at(9),
        actor: 'arn:other',
      },
    });
  });

  it('ignores a shard overwritten at version 0 by the creation of a new incarnation', () => {
    // Prepare
    const before = shardImage(1, { value: 8, version: 5 });
    const after = shardImage(1, { incarnation: 'inc-next' });

    // Act
    const action = toHistoryAction(before, after);

    // Assess
    expect(action).toEqual({ kind: 'ignore' });
  });

  it('sequences the sharded counter’s creation as shard 0’s version 1, its delta the value created with', () => {
    // Act
    const action = toHistoryAction(undefined, rootImage({ value: 7 }));

    // Assess
    expect(action).toEqual({
      kind: 'sequence',
      key: KEY,
      change: { shard: 0, shardVersion: 1, delta: 7, op: 'set', created_at: T0, actor: ACTOR },
    });
  });

  it('sequences a change of the counter’s own item as shard 0’s, with its own version', () => {
    // Prepare
    const before = rootImage({ value: 10, version: 4 });
    const after = rootImage({ value: 13, version: 5, op: 'increment', updated_at: at(5) });

    // Act
    const action = toHistoryAction(before, after);

    // Assess
    expect(action).toEqual({
      kind: 'sequence',
      key: KEY,
      change: { shard: 0, shardVersion: 5, delta: 3, op: 'increment', created_at: at(5), actor: ACTOR },
    });
  });

  it('purges the history of a removed sharded counter, marked as sharded', () => {
    // Act
    const action = toHistoryAction(rootImage({ version: 9 }), undefined);

    // Assess
    expect(action).toEqual({ kind: 'purge', key: KEY, sharded: true });
  });
});

describe('numberChanges', () => {
  it('numbers the changes 1..n from the creation, each value the previous one’s plus its delta', () => {
    // Act
    const numbered = numberChanges(undefined, KEY, [
      shardChange(0, 1, 10),
      shardChange(2, 1, 3, 1),
      shardChange(1, 1, -4, 2),
      shardChange(2, 2, 1, 3),
    ]);

    // Assess
    expect(numbered.duplicates).toBe(0);
    expect(numbered.entries).toEqual([
      {
        entry: { version: 1, value: 10, delta: 10, op: 'set', created_at: at(0), actor: ACTOR },
        source: { shard: 0, shardVersion: 1 },
        absorbed: { '0': 1 },
      },
      {
        entry: { version: 2, value: 13, delta: 3, op: 'increment', created_at: at(1), actor: ACTOR },
        source: { shard: 2, shardVersion: 1 },
        absorbed: { '0': 1, '2': 1 },
      },
      {
        entry: { version: 3, value: 9, delta: -4, op: 'increment', created_at: at(2), actor: ACTOR },
        source: { shard: 1, shardVersion: 1 },
        absorbed: { '0': 1, '2': 1, '1': 1 },
      },
      {
        entry: { version: 4, value: 10, delta: 1, op: 'increment', created_at: at(3), actor: ACTOR },
        source: { shard: 2, shardVersion: 2 },
        absorbed: { '0': 1, '2': 2, '1': 1 },
      },
    ]);
  });

  it('numbers after the sequencer’s state, from its value', () => {
    // Prepare
    const state: SequencerState = { lastVersion: 7, value: 40, absorbed: { '0': 3, '1': 4 } };

    // Act
    const numbered = numberChanges(state, KEY, [shardChange(1, 5, 2), shardChange(2, 1, -10)]);

    // Assess
    expect(numbered.entries.map(({ entry }) => [entry.version, entry.value, entry.delta])).toEqual([
      [8, 42, 2],
      [9, 32, -10],
    ]);
    expect(numbered.entries.at(-1)?.absorbed).toEqual({ '0': 3, '1': 5, '2': 1 });
    expect(state).toEqual({ lastVersion: 7, value: 40, absorbed: { '0': 3, '1': 4 } });
  });

  it('skips as duplicates the changes a shard has already had absorbed, and numbers the rest without a gap', () => {
    // Prepare
    const state: SequencerState = { lastVersion: 5, value: 20, absorbed: { '0': 2, '1': 2, '2': 1 } };

    // Act
    const numbered = numberChanges(state, KEY, [
      shardChange(1, 1, 2),
      shardChange(1, 2, 4),
      shardChange(2, 1, -1),
      shardChange(1, 3, 6),
      shardChange(0, 2, 5),
    ]);

    // Assess
    expect(numbered.duplicates).toBe(4);
    expect(numbered.entries.map(({ entry }) => [entry.version, entry.value, entry.delta])).toEqual([
      [6, 26, 6],
    ]);
  });

  it('throws SequencerNotReadyError for a shard’s change that comes before the counter’s creation', () => {
    // Act
    const numbering = () => numberChanges(undefined, KEY, [shardChange(1, 1, 2), shardChange(0, 1, 10)]);

    // Assess
    expect(numbering).toThrow(SequencerNotReadyError);
    expect(numbering).toThrow(
      "history of hot#inc-hot: a shard's change came before the counter's creation was recorded; retrying",
    );
  });

  it('throws SequencerNotReadyError for a later change of shard 0 before its creation', () => {
    // Act
    const numbering = () => numberChanges(undefined, KEY, [shardChange(0, 2, 5)]);

    // Assess
    expect(numbering).toThrow(SequencerNotReadyError);
  });

  it('counts every change of a purged counter as a duplicate and numbers none', () => {
    // Prepare
    const state: SequencerState = { lastVersion: 0, value: 0, absorbed: {}, purged: true };

    // Act
    const numbered = numberChanges(state, KEY, [shardChange(1, 9, 1), shardChange(0, 1, 10)]);

    // Assess
    expect(numbered).toEqual({ entries: [], duplicates: 2 });
  });
});
