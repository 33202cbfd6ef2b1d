import { describe, expect, it } from 'vitest';
import { AttemptFencedError } from '../../functions/counter/errors.ts';
import type { ChangeInput, CounterRepository, KeyedAttempt } from '../../functions/counter/repository.ts';
import { MAX_VALUE } from '../../functions/counter/schema.ts';

/**
 * What every CounterRepository must do, run against the in-memory twin (unit) and DynamoDB's on the
 * local engine (integration): the twin is only a stand-in while it passes the same suite, and the
 * rules both enforce are the same ones (functions/counter/change-rules.ts).
 *
 * `fresh` gives a repository over empty storage for each test.
 */
/** A change's outcome, caught at once so that a refusal is never left unhandled while others run. */
async function settled<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  try {
    return { value: await promise };
  } catch (error) {
    return { error };
  }
}

export function counterRepositoryContract(
  label: string,
  fresh: () => Promise<CounterRepository> | CounterRepository,
): void {
  const ACTOR = 'arn:aws:iam::000000000000:user/contract';
  let clock = 0;
  const change = (name: string, overrides: Partial<ChangeInput> = {}): ChangeInput => ({
    name,
    actor: ACTOR,
    now: new Date(Date.UTC(2026, 0, 1) + 1000 * clock++).toISOString(),
    newIncarnation: `inc-${clock}`,
    ...overrides,
  });
  const attempt = (id: string, owner: string): KeyedAttempt => ({
    id,
    attempt: owner,
    reach: async () => undefined,
    answer: () => ({ statusCode: 204, headers: {}, body: '' }),
  });

  describe(`${label}: the CounterRepository contract`, () => {
    it('creates a counter at 0 on its first increment, at version 1, and adds to it after', async () => {
      const repository = await fresh();

      const first = await repository.increment({ ...change('c.add'), by: 5 });
      const second = await repository.increment({ ...change('c.add'), by: -2 });

      expect(first).toMatchObject({ name: 'c.add', value: 5, version: 1, op: 'increment', actor: ACTOR });
      expect(first?.created_at).toBe(first?.updated_at);
      expect(second).toMatchObject({ value: 3, version: 2, created_at: first?.created_at });
      expect(second?.incarnation).toBe(first?.incarnation);
      expect(await repository.get('c.add')).toMatchObject({ value: 3, version: 2 });
    });

    it('reads an absent counter as undefined', async () => {
      const repository = await fresh();

      expect(await repository.get('c.none')).toBeUndefined();
    });

    it('sets a value, creating the counter, and grows the version from what it was', async () => {
      const repository = await fresh();

      const created = await repository.set({ ...change('c.set'), value: 10 });
      const changed = await repository.set({ ...change('c.set'), value: -4 });

      expect(created).toMatchObject({ value: 10, version: 1, op: 'set' });
      expect(changed).toMatchObject({ value: -4, version: 2, created_at: created.created_at });
    });

    it('refuses an increment past the range with CounterOutOfRangeError, changing nothing', async () => {
      const repository = await fresh();
      await repository.set({ ...change('c.range'), value: MAX_VALUE - 1 });

      const over = await settled(repository.increment({ ...change('c.range'), by: 2 }));

      expect(over.error).toMatchObject({ name: 'CounterOutOfRangeError', current: MAX_VALUE - 1 });
      expect(await repository.get('c.range')).toMatchObject({ value: MAX_VALUE - 1, version: 1 });
    });

    it('applies a change under If-Match only at that version; "0" only while the counter is absent', async () => {
      const repository = await fresh();

      const created = await repository.set({ ...change('c.match', { expectedVersion: 0 }), value: 1 });
      const stale = await settled(
        repository.increment({ ...change('c.match', { expectedVersion: 0 }), by: 1 }),
      );
      const current = await repository.increment({ ...change('c.match', { expectedVersion: 1 }), by: 1 });

      expect(created).toMatchObject({ value: 1, version: 1 });
      expect(stale.error).toMatchObject({ name: 'VersionMismatchError', expected: 0, actual: 1 });
      expect(current).toMatchObject({ value: 2, version: 2 });
    });

    it('keeps a bounded counter within its bounds: exactly to a bound, not one past it', async () => {
      const repository = await fresh();
      await repository.set({ ...change('c.bounds'), value: 3, min: 0, max: 5 });

      const down = await repository.increment({ ...change('c.bounds'), by: -3 });
      const below = await settled(repository.increment({ ...change('c.bounds'), by: -1 }));
      const above = await settled(repository.set({ ...change('c.bounds'), value: 6 }));

      expect(down).toMatchObject({ value: 0, min: 0, max: 5 });
      expect(below.error).toMatchObject({ name: 'CounterOutOfBoundsError', bound: { side: 'min' } });
      expect(above.error).toMatchObject({ name: 'CounterOutOfBoundsError', bound: { side: 'max' } });
      expect(await repository.get('c.bounds')).toMatchObject({ value: 0, version: 2 });
    });

    it('removes a bound given null, and keeps one left out', async () => {
      const repository = await fresh();
      await repository.set({ ...change('c.unbound'), value: 3, min: 0, max: 5 });

      const opened = await repository.set({ ...change('c.unbound'), value: 9, max: null });

      expect(opened).toMatchObject({ value: 9, min: 0 });
      expect(opened.max).toBeUndefined();
    });

    it('deletes a counter, refuses to delete an absent one, and starts a new one afresh', async () => {
      const repository = await fresh();
      const old = await repository.increment({ ...change('c.del'), by: 7 });

      await repository.delete({ name: 'c.del' });
      const again = await settled(repository.delete({ name: 'c.del' }));
      const reborn = await repository.increment({ ...change('c.del'), by: 1 });

      expect(again.error).toMatchObject({ name: 'CounterNotFoundError' });
      expect(reborn).toMatchObject({ value: 1, version: 1 });
      expect(reborn?.incarnation).not.toBe(old?.incarnation);
    });

    it('refuses a delete under If-Match of another version, deleting nothing', async () => {
      const repository = await fresh();
      await repository.increment({ ...change('c.delmatch'), by: 1 });

      const deleting = await settled(repository.delete({ name: 'c.delmatch', expectedVersion: 2 }));

      expect(deleting.error).toMatchObject({ name: 'VersionMismatchError', actual: 1 });
      expect(await repository.get('c.delmatch')).toMatchObject({ value: 1 });
    });

    it("tags a keyed attempt's write with the attempt, and refuses the attempt's writes once fenced", async () => {
      const repository = await fresh();

      const tagged = await repository.increment({
        ...change('c.keyed'),
        by: 1,
        attempt: attempt('r1', 'a1'),
      });
      await repository.fence(['c.keyed'], 'r1', 'a2');
      const fenced = await settled(
        repository.increment({ ...change('c.keyed'), by: 1, attempt: attempt('r1', 'a2') }),
      );

      expect(tagged?.tag_attempt).toBe('a1');
      expect((await repository.get('c.keyed'))?.tag_attempt).toBe('a1');
      expect(fenced.error).toBeInstanceOf(AttemptFencedError);
      expect(await repository.get('c.keyed')).toMatchObject({ value: 1, version: 1 });
    });

    it('keeps an item that holds only a probe out of sight, and lets a counter be made there', async () => {
      const repository = await fresh();
      await repository.fence(['c.probed'], 'r1', 'gone');

      const before = await repository.get('c.probed');
      const created = await repository.increment({ ...change('c.probed'), by: 2 });
      const deleting = await settled(repository.delete({ name: 'c.nothing' }));

      expect(before).toBeUndefined();
      expect(created).toMatchObject({ value: 2, version: 1 });
      expect(deleting.error).toMatchObject({ name: 'CounterNotFoundError' });
    });

    it('lists counters by name a page at a time, after a name', async () => {
      const repository = await fresh();
      for (const name of ['l.c', 'l.a', 'l.b', 'm.x']) await repository.increment({ ...change(name), by: 1 });

      const first = await repository.list({ prefix: 'l.', limit: 2 });
      const second = await repository.list({ prefix: 'l.', limit: 2, after: first.lastName });

      expect(first.items.map((counter) => counter.name)).toEqual(['l.a', 'l.b']);
      expect(first.hasMore).toBe(true);
      expect(second.items.map((counter) => counter.name)).toEqual(['l.c']);
      expect(second.hasMore).toBe(false);
    });

    it('creates a sharded counter once, refuses its sets and its bounds, and adds to it', async () => {
      const repository = await fresh();

      const created = await repository.set({ ...change('s.hot'), value: 5, shards: 4 });
      const set = await settled(repository.set({ ...change('s.hot'), value: 1 }));
      const again = await settled(repository.set({ ...change('s.hot'), value: 1, shards: 4 }));
      const bounded = await settled(repository.set({ ...change('s.cold'), value: 1, shards: 2, min: 0 }));
      await repository.increment({ ...change('s.hot'), by: 3 });

      expect(created).toMatchObject({ value: 5, version: 1, shards: 4 });
      expect(set.error).toMatchObject({ name: 'ShardLayoutError' });
      expect(again.error).toMatchObject({ name: 'ShardLayoutError' });
      expect(bounded.error).toMatchObject({ name: 'ShardLayoutError' });
      expect(await repository.get('s.hot')).toMatchObject({ value: 8, version: 2, shards: 4 });
      expect(await repository.get('s.cold')).toBeUndefined();
    });
  });
}
