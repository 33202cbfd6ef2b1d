import { describe, expect, it } from 'vitest';
import type { HistoryStore } from '../../functions/counter/history-store.ts';
import type { HistoryReader } from '../../functions/counter/repository.ts';
import type { HistoryEntry } from '../../functions/counter/schema.ts';
import { bucketsOf } from '../../functions/counter/series.ts';
import { historyKey } from '../../functions/counter/table.ts';
import { KEY as SHARDED_KEY, shardChange } from './sharded-changes.ts';

/**
 * What the history store must do, written by the consumer's calls and read by the domain's, run
 * against the in-memory twin (unit) and DynamoDB's on the local engine (integration): the twin the
 * service's unit tests read history from is only a stand-in while it passes the same suite.
 *
 * `fresh` gives a store over empty tables for each test.
 */
export function historyStoreContract(
  label: string,
  fresh: () => Promise<HistoryStore & HistoryReader> | (HistoryStore & HistoryReader),
): void {
  const NAME = 'c';
  const INCARNATION = 'inc-1';
  const KEY = historyKey(NAME, INCARNATION);
  const T0 = Date.UTC(2026, 0, 1);
  const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();
  /** A plain counter's change: version `version`, +1 each, `seconds` after T0. */
  const entry = (version: number, seconds = version): HistoryEntry => ({
    version,
    value: version,
    delta: 1,
    op: 'increment',
    created_at: at(seconds),
    actor: 'arn:aws:iam::000000000000:user/contract',
  });
  /** Rolls `entries` up into every bucket they fall in, as the consumer does once they are stored. */
  const rollUp = async (store: HistoryStore, entries: HistoryEntry[]) => {
    for (const bucket of bucketsOf(entries))
      await store.rollUp(KEY, bucket.interval, bucket.start, bucket.changes);
  };
  /** Records `entries` and rolls them up, as the consumer applies a batch. */
  const apply = async (store: HistoryStore, entries: HistoryEntry[]) => {
    for (const one of entries) await store.record(KEY, one);
    await rollUp(store, entries);
  };
  const versionsOf = async (
    reader: HistoryReader,
    query: { since?: string; until?: string; shards?: number } = {},
  ) =>
    (await reader.history({ name: NAME, incarnation: INCARNATION, limit: 100, ...query })).items.map(
      (item) => item.version,
    );

  describe(`${label}: the history store contract`, () => {
    it("answers a plain counter's entries oldest first, up to the last version rolled up", async () => {
      const store = await fresh();
      const entries = [entry(1), entry(2), entry(3)];
      for (const one of entries) await store.record(KEY, one);
      await rollUp(store, entries.slice(0, 2));

      const before = await store.history({ name: NAME, incarnation: INCARNATION, limit: 10 });
      await rollUp(store, entries.slice(2));
      const after = await store.history({ name: NAME, incarnation: INCARNATION, limit: 10 });

      expect(before.items).toEqual(entries.slice(0, 2));
      expect(after.items).toEqual(entries);
    });

    it('records a version once: a second record of it is a duplicate, and the first stays', async () => {
      const store = await fresh();
      await apply(store, [entry(1)]);

      const again = await store.record(KEY, { ...entry(1), value: 99 });

      expect(again).toBe('duplicate');
      expect((await store.history({ name: NAME, incarnation: INCARNATION, limit: 10 })).items).toEqual([
        entry(1),
      ]);
    });

    it('pages through a history with lastVersion as the cursor, every version once, in order', async () => {
      const store = await fresh();
      await apply(
        store,
        [1, 2, 3, 4, 5].map((version) => entry(version)),
      );

      const seen: number[] = [];
      let afterVersion: number | undefined;
      for (let page = 0; page < 10; page++) {
        const result = await store.history({ name: NAME, incarnation: INCARNATION, limit: 2, afterVersion });
        seen.push(...result.items.map((item) => item.version));
        if (!result.hasMore) break;
        afterVersion = result.lastVersion;
      }

      expect(seen).toEqual([1, 2, 3, 4, 5]);
    });

    it('answers, for since and until, the versions from the first change at or after since to the last before until', async () => {
      const store = await fresh();
      // One change a minute, 10 seconds into it.
      await apply(
        store,
        [1, 2, 3, 4].map((version) => entry(version, (version - 1) * 60 + 10)),
      );

      const window = await versionsOf(store, { since: at(60), until: at(180) });
      const fromSince = await versionsOf(store, { since: at(71) });
      const untilOnly = await versionsOf(store, { until: at(70) });

      expect(window).toEqual([2, 3]);
      expect(fromSince).toEqual([3, 4]);
      expect(untilOnly).toEqual([1]);
    });

    it("answers a sharded counter's history as its shards' changes were numbered, and numbers a batch delivered again once", async () => {
      const store = await fresh();
      const batch = [shardChange(0, 1, 10), shardChange(1, 1, 2, 1), shardChange(2, 1, -1, 2)];
      const [name, incarnation] = SHARDED_KEY.split('#') as [string, string];

      const first = await store.sequence(SHARDED_KEY, batch);
      const again = await store.sequence(SHARDED_KEY, batch);
      const history = await store.history({ name, incarnation, limit: 10, shards: 3 });

      expect([first.written, first.duplicates, again.written, again.duplicates]).toEqual([3, 0, 0, 3]);
      expect(history.items.map((item) => [item.version, item.value, item.delta, item.op])).toEqual([
        [1, 10, 10, 'set'],
        [2, 12, 2, 'increment'],
        [3, 11, -1, 'increment'],
      ]);
      expect(again.entries).toEqual(history.items);
    });

    it("sums a counter's changes into buckets of each interval, oldest first, and pages them by start", async () => {
      const store = await fresh();
      // Two changes in the first hour, one in the second.
      await apply(store, [entry(1, 10), entry(2, 20), entry(3, 3_610)]);

      const hours = await store.series({ name: NAME, incarnation: INCARNATION, interval: 'hour', limit: 10 });
      const afterFirst = await store.series({
        name: NAME,
        incarnation: INCARNATION,
        interval: 'hour',
        limit: 10,
        afterStart: at(0),
      });

      expect(hours).toEqual({
        items: [
          { start: at(0), delta: 2, count: 2, value: 2 },
          { start: at(3_600), delta: 1, count: 1, value: 3 },
        ],
        hasMore: false,
      });
      expect(afterFirst.items.map((bucket) => bucket.start)).toEqual([at(3_600)]);
    });

    it('rolls a batch delivered again into its buckets once', async () => {
      const store = await fresh();
      const entries = [entry(1), entry(2)];
      await apply(store, entries);

      await apply(store, entries);

      const days = await store.series({ name: NAME, incarnation: INCARNATION, interval: 'day', limit: 10 });
      expect(days.items).toEqual([{ start: at(0), delta: 2, count: 2, value: 2 }]);
    });

    it("purges a counter's entries and buckets, answering how many entries it removed", async () => {
      const store = await fresh();
      await apply(store, [entry(1), entry(2), entry(3)]);

      const removed = await store.purge(KEY);

      expect(removed).toBe(3);
      expect(await versionsOf(store)).toEqual([]);
      expect(
        (await store.series({ name: NAME, incarnation: INCARNATION, interval: 'minute', limit: 10 })).items,
      ).toEqual([]);
    });

    it("records none of a purged sharded counter's late shard changes", async () => {
      const store = await fresh();
      const [name, incarnation] = SHARDED_KEY.split('#') as [string, string];
      await store.sequence(SHARDED_KEY, [shardChange(0, 1, 10), shardChange(1, 1, 2, 1)]);

      await store.purge(SHARDED_KEY, { sharded: true });
      const late = await store.sequence(SHARDED_KEY, [shardChange(2, 1, 5, 2)]);

      expect(late.written).toBe(0);
      expect((await store.history({ name, incarnation, limit: 10, shards: 3 })).items).toEqual([]);
    });
  });
}
