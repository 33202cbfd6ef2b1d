import { describe, expect, it } from 'vitest';
import { SequencerNotReadyError } from '../../functions/counter/errors.ts';
import type { ShardChange } from '../../functions/counter/history.ts';
import { recordHistory, type StreamChange } from '../../functions/counter/history-recorder.ts';
import type { HistoryStore, SequenceOutcome } from '../../functions/counter/history-store.ts';
import type { HistoryEntry, StoredCounter } from '../../functions/counter/schema.ts';
import type { Interval, RollupChange } from '../../functions/counter/series.ts';
import { counterItem } from '../support/counter-items.ts';
import { InMemoryCounterRepository, InMemoryHistoryStore } from '../support/in-memory-repository.ts';
import {
  ACTOR,
  at,
  EXACT_HISTORY,
  KEY,
  rootImage,
  shardedBatch,
  shardImage,
  T0,
} from '../support/sharded-changes.ts';

/** A counter's stream image: the item as the counters table holds it. */
const image = counterItem;

/** A stream record of the change from `oldImage` to `newImage`. */
function change(id: string, oldImage?: StoredCounter, newImage?: StoredCounter): StreamChange {
  return { id, oldImage, newImage };
}

/** Three increments of `a`, then its deletion, then the first change of its next incarnation. */
function lifeAndRebirth(): StreamChange[] {
  const v1 = image({ version: 1, value: 1 });
  const v2 = image({ version: 2, value: 2 });
  const v3 = image({ version: 3, value: 5 });
  const reborn = image({ version: 1, value: 40, incarnation: 'inc-2' });
  return [
    change('1', undefined, v1),
    change('2', v1, v2),
    change('3', v2, v3),
    change('4', v3, undefined),
    change('5', undefined, reborn),
  ];
}

/** Records into an in-memory store, slowly or failing as told, and remembers what it was asked. */
class ScriptedStore implements HistoryStore {
  readonly calls: string[] = [];
  constructor(
    readonly inner: InMemoryHistoryStore,
    private readonly script: {
      failRecord?: { key: string; version: number };
      failPurge?: boolean;
      failRollUp?: boolean;
      /** Each write lands only after this long, as a network write would. */
      recordDelayMs?: number | ((entry: HistoryEntry) => number);
    } = {},
  ) {}

  async record(key: string, entry: HistoryEntry): Promise<'written' | 'duplicate'> {
    this.calls.push(`record ${key} v${entry.version}`);
    const { failRecord, recordDelayMs } = this.script;
    const delay = typeof recordDelayMs === 'function' ? recordDelayMs(entry) : recordDelayMs;
    if (delay !== undefined) await new Promise((resolve) => setTimeout(resolve, delay));
    if (failRecord?.key === key && failRecord.version === entry.version) throw new Error('store unavailable');
    return this.inner.record(key, entry);
  }

  async rollUp(key: string, interval: Interval, start: string, changes: RollupChange[]): Promise<void> {
    this.calls.push(`rollUp ${key} ${interval}`);
    if (this.script.failRollUp === true) throw new Error('store unavailable');
    return this.inner.rollUp(key, interval, start, changes);
  }

  async sequence(key: string, changes: ShardChange[]): Promise<SequenceOutcome> {
    this.calls.push(`sequence ${key} ${changes.length}`);
    return this.inner.sequence(key, changes);
  }

  async purge(key: string, options?: { sharded?: boolean }): Promise<number> {
    this.calls.push(`purge ${key}`);
    if (this.script.failPurge === true) throw new Error('store unavailable');
    return this.inner.purge(key, options);
  }
}

describe('recordHistory', () => {
  it('writes one entry per change', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();
    const batch = lifeAndRebirth().slice(0, 3);

    // Act
    const outcome = await recordHistory(store, batch);

    // Assess
    expect(outcome).toEqual({ written: 3, duplicates: 0, purged: 0, recorded: expect.any(Array) });
    expect(store.snapshot()['a#inc-1']?.map((entry) => [entry.version, entry.value, entry.delta])).toEqual([
      [1, 1, 1],
      [2, 2, 1],
      [3, 5, 3],
    ]);
  });

  it('writes each entry once when a batch is delivered twice', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();
    const batch = lifeAndRebirth().slice(0, 3);
    await recordHistory(store, batch);
    const afterFirst = store.snapshot();

    // Act
    const outcome = await recordHistory(store, batch);

    // Assess
    expect(outcome).toEqual({ written: 0, duplicates: 3, purged: 0, recorded: expect.any(Array) });
    expect(store.snapshot()).toEqual(afterFirst);
  });

  it("waits for earlier writes before a purge, so only the new incarnation's history remains", async () => {
    // Prepare
    const inner = new InMemoryHistoryStore();
    const store = new ScriptedStore(inner, { recordDelayMs: 5 });

    // Act
    const outcome = await recordHistory(store, lifeAndRebirth());

    // Assess
    expect(outcome).toEqual({ written: 4, duplicates: 0, purged: 3, recorded: expect.any(Array) });
    expect(inner.snapshot()).toEqual({
      'a#inc-2': [expect.objectContaining({ version: 1, value: 40, delta: 40 })],
    });
  });

  it('leaves nothing of a deleted counter when the whole batch is delivered again', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();
    await recordHistory(store, lifeAndRebirth());

    // Act
    await recordHistory(store, lifeAndRebirth());

    // Assess
    expect(Object.keys(store.snapshot())).toEqual(['a#inc-2']);
  });

  it('lists what it recorded, in batch order: each change with its entry, and the deletion with its time', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();
    const batch = lifeAndRebirth().map((change, i) => ({ ...change, at: `2026-11-30T12:00:0${i}.000Z` }));

    // Act
    const outcome = await recordHistory(store, batch);

    // Assess
    expect(outcome.recorded.map((change) => [change.kind, change.index, change.key])).toEqual([
      ['changed', 0, 'a#inc-1'],
      ['changed', 1, 'a#inc-1'],
      ['changed', 2, 'a#inc-1'],
      ['deleted', 3, 'a#inc-1'],
      ['changed', 4, 'a#inc-2'],
    ]);
    expect(outcome.recorded[2]).toEqual({
      kind: 'changed',
      index: 2,
      key: 'a#inc-1',
      entry: expect.objectContaining({ version: 3, value: 5, delta: 3 }),
    });
    expect(outcome.recorded[3]).toEqual({
      kind: 'deleted',
      index: 3,
      key: 'a#inc-1',
      at: '2026-11-30T12:00:03.000Z',
    });
  });

  it('lists the changes of a batch delivered again as recorded, with the same entries', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();
    const batch = lifeAndRebirth().slice(0, 3);
    const first = await recordHistory(store, batch);

    // Act
    const again = await recordHistory(store, batch);

    // Assess
    expect(again.duplicates).toBe(3);
    expect(again.recorded).toEqual(first.recorded);
  });

  it('lists none of a failed counter’s changes from the failed one on', async () => {
    // Prepare
    const store = new ScriptedStore(new InMemoryHistoryStore(), {
      failRecord: { key: 'a#inc-1', version: 2 },
    });

    // Act
    const outcome = await recordHistory(store, lifeAndRebirth());

    // Assess: version 1 of a is recorded; b's first change (another counter, index 4) too, which the
    // consumer holds back since it comes after the failed record.
    expect(outcome.failedId).toBe('2');
    expect(outcome.recorded.map((change) => [change.index, change.key])).toEqual([
      [0, 'a#inc-1'],
      [4, 'a#inc-2'],
    ]);
  });

  it("reports the failing record as failedId, and applies none of that counter's later changes or its purge", async () => {
    // Prepare
    const inner = new InMemoryHistoryStore();
    const store = new ScriptedStore(inner, { failRecord: { key: 'a#inc-1', version: 2 } });

    // Act
    const outcome = await recordHistory(store, lifeAndRebirth());

    // Assess
    expect(outcome.failedId).toBe('2');
    expect(outcome.error).toBeInstanceOf(Error);
    expect(store.calls).not.toContain('purge a#inc-1');
    // Version 1 is fully applied (entry and rollups) since the retry starts after it; version 2 is not.
    // (Version 3's entry may be written already: the retry finds it and skips it.)
    const versions = inner.snapshot()['a#inc-1']?.map((entry) => entry.version);
    expect(versions).toContain(1);
    expect(versions).not.toContain(2);
    expect(inner.seriesPage('a#inc-1', 'day', 10, {}).items).toEqual([
      expect.objectContaining({ count: 1, delta: 1, value: 1 }),
    ]);
    // ...and another counter's changes may go ahead: delivered again, they change nothing.
  });

  it('reports a failing purge as failedId, leaving the entries for the retry to purge', async () => {
    // Prepare
    const inner = new InMemoryHistoryStore();
    const store = new ScriptedStore(inner, { failPurge: true });

    // Act
    const outcome = await recordHistory(store, lifeAndRebirth());

    // Assess
    expect(outcome.failedId).toBe('4');
    expect(inner.snapshot()['a#inc-1']?.map((entry) => entry.version)).toEqual([1, 2, 3]);
  });

  it('reports the first change of a counter whose rollup failed, so the retry rolls up all of it once', async () => {
    // Prepare
    const inner = new InMemoryHistoryStore();
    const batch = lifeAndRebirth();
    const first = await recordHistory(new ScriptedStore(inner, { failRollUp: true }), batch);
    const resumeAt = batch.findIndex((record) => record.id === first.failedId);

    // Act
    await recordHistory(inner, batch.slice(resumeAt));
    await recordHistory(inner, batch.slice(resumeAt));

    // Assess
    expect(first.failedId).toBe('1');
    expect(inner.seriesPage('a#inc-2', 'minute', 10, {}).items).toEqual([
      expect.objectContaining({ count: 1, delta: 40, value: 40 }),
    ]);
  });

  it('rolls a version up only once it and every version before it are stored, however the writes land', async () => {
    // Prepare: the batch's writes land newest first, as concurrent writes may. Readers take the last
    // version the rollups hold as the point below which the history has no gap.
    const inner = new InMemoryHistoryStore();
    const store = new ScriptedStore(inner, { recordDelayMs: (entry) => 2 * (6 - entry.version) });
    const stored = () => new Set(inner.snapshot()['a#inc-1']?.map((entry) => entry.version));
    const gaps: string[] = [];
    const rollUp = store.rollUp.bind(store);
    store.rollUp = async (key, interval, start, changes) => {
      const last = Math.max(...changes.map((change) => change.version));
      for (let version = 1; version <= last; version++) {
        if (!stored().has(version)) gaps.push(`${interval} rolled up v${last} before v${version} was stored`);
      }
      return rollUp(key, interval, start, changes);
    };
    let previous = image({ version: 1, value: 1 });
    const batch = [change('1', undefined, previous)];
    for (let version = 2; version <= 5; version++) {
      const next = image({ version, value: version });
      batch.push(change(String(version), previous, next));
      previous = next;
    }

    // Act
    const outcome = await recordHistory(store, batch);

    // Assess
    expect(outcome.failedId).toBeUndefined();
    expect(gaps).toEqual([]);
    expect(inner.highWaterMark('a#inc-1')).toBe(5);
  });

  it('rolls up nothing past a failed write, so the mark stays below the gap it leaves', async () => {
    // Prepare
    const inner = new InMemoryHistoryStore();
    const store = new ScriptedStore(inner, { failRecord: { key: 'a#inc-1', version: 2 } });

    // Act
    await recordHistory(store, lifeAndRebirth().slice(0, 3));

    // Assess: version 3 may be stored, but no reader is told so before version 2 is.
    expect(inner.highWaterMark('a#inc-1')).toBe(1);
  });

  it('rolls a batch delivered twice into the series once', async () => {
    // Prepare
    const inner = new InMemoryHistoryStore();
    const batch = lifeAndRebirth().slice(0, 3);

    // Act
    await recordHistory(inner, batch);
    await recordHistory(inner, batch);
    await recordHistory(inner, batch.slice(1));

    // Assess
    for (const interval of ['minute', 'hour', 'day'] as const) {
      expect(inner.seriesPage('a#inc-1', interval, 10, {}).items).toEqual([
        expect.objectContaining({ count: 3, delta: 5, value: 5 }),
      ]);
    }
  });

  it('resumes from the failed record and reaches the same history as an undisturbed run', async () => {
    // Prepare
    const inner = new InMemoryHistoryStore();
    const batch = lifeAndRebirth();
    const first = await recordHistory(
      new ScriptedStore(inner, { failRecord: { key: 'a#inc-1', version: 2 } }),
      batch,
    );
    const resumeAt = batch.findIndex((record) => record.id === first.failedId);

    // Act
    const second = await recordHistory(inner, batch.slice(resumeAt));

    // Assess
    expect(second.failedId).toBeUndefined();
    expect(inner.snapshot()).toEqual({
      'a#inc-2': [expect.objectContaining({ version: 1, value: 40 })],
    });
  });

  it('reports a poison record (malformed image) as failedId after writing what came before it', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();
    const [first, second] = lifeAndRebirth();
    const poison: StreamChange = { id: 'poison', newImage: { name: 'a', value: 'NaN' } };
    const batch = [first, second, poison, change('after', undefined, image({ name: 'b' }))].flatMap(
      (record) => (record === undefined ? [] : [record]),
    );

    // Act
    const outcome = await recordHistory(store, batch);

    // Assess
    expect(outcome.failedId).toBe('poison');
    expect(outcome.written).toBe(2);
    expect(Object.keys(store.snapshot())).toEqual(['a#inc-1']);
  });
});

/** A sharded counter's history in the store, as [version, value, delta, op]. */
function historyOf(store: InMemoryHistoryStore, key = KEY) {
  return store.snapshot()[key]?.map((entry) => [entry.version, entry.value, entry.delta, entry.op]);
}

describe('recordHistory of a sharded counter', () => {
  it('records the shards’ changes as one history 1..n, each value the previous one plus its delta', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();

    // Act
    const outcome = await recordHistory(store, shardedBatch());

    // Assess
    expect(outcome).toEqual({ written: 5, duplicates: 0, purged: 0, recorded: expect.any(Array) });
    expect(historyOf(store)).toEqual(EXACT_HISTORY);
    expect(store.seriesPage(KEY, 'day', 10, {}).items).toEqual([
      { start: T0, delta: 20, count: 5, value: 20 },
    ]);
  });

  it('writes nothing twice when the batch is delivered again', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();
    await recordHistory(store, shardedBatch());

    // Act
    const again = await recordHistory(store, shardedBatch());

    // Assess
    expect(again).toEqual({ written: 0, duplicates: 5, purged: 0, recorded: expect.any(Array) });
    expect(historyOf(store)).toEqual(EXACT_HISTORY);
    expect(store.seriesPage(KEY, 'minute', 10, {}).items).toEqual([
      { start: T0, delta: 20, count: 5, value: 20 },
    ]);
  });

  it('lists each shard change with the counter-wide version it was given, the same when the batch is delivered again', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();
    const first = await recordHistory(store, shardedBatch());

    // Act
    const again = await recordHistory(store, shardedBatch());

    // Assess: the shards' creations (indexes 1 and 2) are no change.
    const versions = (outcome: typeof first) =>
      outcome.recorded.map((change) => [change.index, change.kind === 'changed' ? change.entry.version : 0]);
    expect(versions(first)).toEqual([
      [0, 1],
      [3, 2],
      [4, 3],
      [5, 4],
      [6, 5],
    ]);
    expect(again.recorded).toEqual(first.recorded);
  });

  it('records the exact history when a consumer died mid-batch and the batch is delivered again', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();
    store.failSequenceAfter = 2;
    const first = await recordHistory(store, shardedBatch());

    // Act
    const again = await recordHistory(store, shardedBatch());

    // Assess
    expect(first).toMatchObject({ failedId: '01', written: 0, duplicates: 0, purged: 0 });
    expect(first.error).toEqual(new Error('consumer died mid-batch'));
    expect(again).toEqual({ written: 3, duplicates: 2, purged: 0, recorded: expect.any(Array) });
    expect(historyOf(store)).toEqual(EXACT_HISTORY);
    expect(store.seriesPage(KEY, 'hour', 10, {}).items).toEqual([
      { start: T0, delta: 20, count: 5, value: 20 },
    ]);
  });

  it('continues a history across batches, and skips the part of a redelivered batch already recorded', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();
    const batch = shardedBatch();
    await recordHistory(store, batch.slice(0, 5));

    // Act
    const rest = await recordHistory(store, batch.slice(3));

    // Assess
    expect(rest).toEqual({ written: 2, duplicates: 2, purged: 0, recorded: expect.any(Array) });
    expect(historyOf(store)).toEqual(EXACT_HISTORY);
  });

  it('stops at a shard’s change that comes before the creation was recorded, and records it once the creation is', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();
    const batch = shardedBatch();
    const early = batch.slice(3, 4);

    // Act
    const refused = await recordHistory(store, early);
    await recordHistory(store, batch.slice(0, 3));
    const retried = await recordHistory(store, early);

    // Assess
    expect(refused.failedId).toBe('04');
    expect(refused.error).toBeInstanceOf(SequencerNotReadyError);
    expect(refused.written).toBe(0);
    expect(retried).toEqual({ written: 1, duplicates: 0, purged: 0, recorded: expect.any(Array) });
    expect(historyOf(store)).toEqual(EXACT_HISTORY.slice(0, 2));
  });

  it('purges a deleted sharded counter’s history and records none of its shards’ late changes', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();
    await recordHistory(store, shardedBatch());
    const last = rootImage({ value: 15, version: 2, op: 'increment', updated_at: at(2) });
    const removal: StreamChange[] = [
      { id: '08', oldImage: last, newImage: undefined },
      { id: '09', oldImage: shardImage(1, { value: 6, version: 2 }), newImage: undefined },
    ];
    // Another stream shard's late record of an increment of shard 2 made just before the deletion.
    const late: StreamChange[] = [
      {
        id: '10',
        oldImage: shardImage(2, { value: -1, version: 1 }),
        newImage: shardImage(2, { value: 2, version: 2, updated_at: at(5) }),
      },
    ];

    // Act
    const purged = await recordHistory(store, removal);
    const afterPurge = await recordHistory(store, late);

    // Assess
    expect(purged).toEqual({ written: 0, duplicates: 0, purged: 5, recorded: expect.any(Array) });
    expect(afterPurge).toEqual({ written: 0, duplicates: 1, purged: 0, recorded: expect.any(Array) });
    expect(store.snapshot()).toEqual({});
    expect(store.seriesPage(KEY, 'day', 10, {}).items).toEqual([]);
  });

  it('records a sharded counter’s history from the in-memory repository’s stream, created with shards', async () => {
    // Prepare
    const repository = new InMemoryCounterRepository();
    const input = { name: 'hot', actor: ACTOR, newIncarnation: 'inc-hot' };
    await repository.set({ ...input, now: at(0), value: 10, shards: 3 });
    await repository.increment({ ...input, now: at(1), by: 2 });
    await repository.increment({ ...input, now: at(2), by: -7 });

    // Act
    const outcome = await recordHistory(repository.historyStore, repository.takeStream());

    // Assess
    expect(outcome).toEqual({ written: 3, duplicates: 0, purged: 0, recorded: expect.any(Array) });
    expect(historyOf(repository.historyStore)).toEqual([
      [1, 10, 10, 'set'],
      [2, 12, 2, 'increment'],
      [3, 5, -7, 'increment'],
    ]);
  });
});
