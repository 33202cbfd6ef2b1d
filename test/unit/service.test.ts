import { describe, expect, it } from 'vitest';
import { encodeCursor } from '../../functions/counter/cursor.ts';
import {
  CounterNotFoundError,
  CounterOutOfRangeError,
  InvalidCursorError,
  VersionMismatchError,
} from '../../functions/counter/errors.ts';
import { recordHistory } from '../../functions/counter/history-recorder.ts';
import { MAX_VALUE, MIN_VALUE } from '../../functions/counter/schema.ts';
import {
  counterHistory,
  counterSeries,
  deleteCounter,
  getCounter,
  incrementCounter,
  listCounters,
  type ServiceDeps,
  setCounter,
} from '../../functions/counter/service.ts';
import { InMemoryCounterRepository } from '../support/in-memory-repository.ts';

const ACTOR = 'arn:aws:iam::000000000000:user/tester';

function setup() {
  const repository = new InMemoryCounterRepository();
  let tick = 0;
  let ids = 0;
  const deps: ServiceDeps = {
    repository,
    now: () => new Date(Date.UTC(2025, 0, 1) + 1000 * tick++).toISOString(),
    newId: () => `incarnation-${++ids}`,
  };
  /** Delivers the table's pending stream records to the history, as the stream consumer would. */
  const deliverStream = async () => {
    const outcome = await recordHistory(repository.historyStore, repository.takeStream());
    expect(outcome.failedId).toBeUndefined();
  };
  return { repository, deps, deliverStream };
}

describe('getCounter', () => {
  it('reads the never-changed default counter as 0 at version 0', async () => {
    // Prepare
    const { deps } = setup();

    // Act
    const counter = await getCounter(deps, 'default');

    // Assess
    expect(counter).toEqual({ name: 'default', value: 0, version: 0, created_at: null, updated_at: null });
  });

  it('refuses an absent counter other than default with CounterNotFoundError', async () => {
    // Prepare
    const { deps } = setup();

    // Act
    const reading = getCounter(deps, 'absent');

    // Assess
    await expect(reading).rejects.toBeInstanceOf(CounterNotFoundError);
  });

  it('returns what the last change left, without storage-only fields', async () => {
    // Prepare
    const { deps } = setup();
    await incrementCounter(deps, { name: 'a', by: 4, actor: ACTOR });

    // Act
    const counter = await getCounter(deps, 'a');

    // Assess
    expect(counter).toEqual({
      name: 'a',
      value: 4,
      version: 1,
      created_at: '2025-01-01T00:00:00.000Z',
      updated_at: '2025-01-01T00:00:00.000Z',
    });
  });
});

describe('incrementCounter', () => {
  it('creates an absent counter at 0 and adds 1, at version 1', async () => {
    // Prepare
    const { deps } = setup();

    // Act
    const counter = await incrementCounter(deps, { name: 'visits', by: 1, actor: ACTOR });

    // Assess
    expect(counter).toMatchObject({ name: 'visits', value: 1, version: 1 });
  });

  it('creates an absent counter at 0 when adding 0', async () => {
    // Prepare
    const { deps } = setup();

    // Act
    const counter = await incrementCounter(deps, { name: 'visits', by: 0, actor: ACTOR });

    // Assess
    expect(counter).toMatchObject({ value: 0, version: 1 });
  });

  it('adds N and grows the version by one per change', async () => {
    // Prepare
    const { deps } = setup();
    await incrementCounter(deps, { name: 'visits', by: 1, actor: ACTOR });

    // Act
    const counter = await incrementCounter(deps, { name: 'visits', by: 41, actor: ACTOR });

    // Assess
    expect(counter).toMatchObject({ value: 42, version: 2 });
  });

  it('subtracts when N is negative, below zero if need be', async () => {
    // Prepare
    const { deps } = setup();
    await incrementCounter(deps, { name: 'stock', by: 3, actor: ACTOR });

    // Act
    const counter = await incrementCounter(deps, { name: 'stock', by: -5, actor: ACTOR });

    // Assess
    expect(counter).toMatchObject({ value: -2, version: 2 });
  });

  it('keeps created_at from the first change and moves updated_at', async () => {
    // Prepare
    const { deps } = setup();
    await incrementCounter(deps, { name: 'a', by: 1, actor: ACTOR });

    // Act
    const counter = await incrementCounter(deps, { name: 'a', by: 1, actor: ACTOR });

    // Assess
    expect(counter?.created_at).toBe('2025-01-01T00:00:00.000Z');
    expect(counter?.updated_at).toBe('2025-01-01T00:00:01.000Z');
  });

  it('refuses to go past the maximum and leaves the value as it was', async () => {
    // Prepare
    const { deps } = setup();
    await setCounter(deps, { name: 'big', value: MAX_VALUE, actor: ACTOR });

    // Act
    const change = incrementCounter(deps, { name: 'big', by: 1, actor: ACTOR });

    // Assess
    await expect(change).rejects.toBeInstanceOf(CounterOutOfRangeError);
    expect(await getCounter(deps, 'big')).toMatchObject({ value: MAX_VALUE, version: 1 });
  });

  it('refuses to go below the minimum and leaves the value as it was', async () => {
    // Prepare
    const { deps } = setup();
    await setCounter(deps, { name: 'small', value: MIN_VALUE + 1, actor: ACTOR });

    // Act
    const change = incrementCounter(deps, { name: 'small', by: -2, actor: ACTOR });

    // Assess
    await expect(change).rejects.toBeInstanceOf(CounterOutOfRangeError);
    expect(await getCounter(deps, 'small')).toMatchObject({ value: MIN_VALUE + 1, version: 1 });
  });

  it('reaches the maximum exactly', async () => {
    // Prepare
    const { deps } = setup();
    await setCounter(deps, { name: 'big', value: MAX_VALUE - 5, actor: ACTOR });

    // Act
    const counter = await incrementCounter(deps, { name: 'big', by: 5, actor: ACTOR });

    // Assess
    expect(counter?.value).toBe(MAX_VALUE);
  });

  it('applies the change when If-Match names the current version', async () => {
    // Prepare
    const { deps } = setup();
    await incrementCounter(deps, { name: 'a', by: 1, actor: ACTOR });

    // Act
    const counter = await incrementCounter(deps, { name: 'a', by: 1, actor: ACTOR, expectedVersion: 1 });

    // Assess
    expect(counter).toMatchObject({ value: 2, version: 2 });
  });

  it('refuses with VersionMismatchError when If-Match names another version, changing nothing', async () => {
    // Prepare
    const { deps } = setup();
    await incrementCounter(deps, { name: 'a', by: 1, actor: ACTOR });

    // Act
    const change = incrementCounter(deps, { name: 'a', by: 1, actor: ACTOR, expectedVersion: 7 });

    // Assess
    await expect(change).rejects.toMatchObject({ name: 'VersionMismatchError', expected: 7, actual: 1 });
    expect(await getCounter(deps, 'a')).toMatchObject({ value: 1, version: 1 });
  });

  it('refuses with VersionMismatchError when If-Match names a version of an absent counter', async () => {
    // Prepare
    const { deps } = setup();

    // Act
    const change = incrementCounter(deps, { name: 'a', by: 1, actor: ACTOR, expectedVersion: 1 });

    // Assess
    await expect(change).rejects.toBeInstanceOf(VersionMismatchError);
    await expect(getCounter(deps, 'a')).rejects.toBeInstanceOf(CounterNotFoundError);
  });
});

describe('setCounter', () => {
  it('creates an absent counter with the value at version 1', async () => {
    // Prepare
    const { deps } = setup();

    // Act
    const counter = await setCounter(deps, { name: 'a', value: -17, actor: ACTOR });

    // Assess
    expect(counter).toMatchObject({ name: 'a', value: -17, version: 1 });
  });

  it('replaces the value of an existing counter and grows its version', async () => {
    // Prepare
    const { deps } = setup();
    await incrementCounter(deps, { name: 'a', by: 5, actor: ACTOR });

    // Act
    const counter = await setCounter(deps, { name: 'a', value: 100, actor: ACTOR });

    // Assess
    expect(counter).toMatchObject({ value: 100, version: 2, created_at: '2025-01-01T00:00:00.000Z' });
  });

  it('refuses with VersionMismatchError when If-Match names another version, changing nothing', async () => {
    // Prepare
    const { deps } = setup();
    await setCounter(deps, { name: 'a', value: 1, actor: ACTOR });

    // Act
    const change = setCounter(deps, { name: 'a', value: 9, actor: ACTOR, expectedVersion: 2 });

    // Assess
    await expect(change).rejects.toBeInstanceOf(VersionMismatchError);
    expect(await getCounter(deps, 'a')).toMatchObject({ value: 1, version: 1 });
  });
});

describe('deleteCounter', () => {
  it('removes the counter', async () => {
    // Prepare
    const { deps } = setup();
    await incrementCounter(deps, { name: 'a', by: 1, actor: ACTOR });

    // Act
    await deleteCounter(deps, { name: 'a' });

    // Assess
    await expect(getCounter(deps, 'a')).rejects.toBeInstanceOf(CounterNotFoundError);
  });

  it('refuses an absent counter with CounterNotFoundError', async () => {
    // Prepare
    const { deps } = setup();

    // Act
    const deletion = deleteCounter(deps, { name: 'absent' });

    // Assess
    await expect(deletion).rejects.toBeInstanceOf(CounterNotFoundError);
  });

  it('refuses with VersionMismatchError when If-Match names another version, keeping the counter', async () => {
    // Prepare
    const { deps } = setup();
    await incrementCounter(deps, { name: 'a', by: 1, actor: ACTOR });

    // Act
    const deletion = deleteCounter(deps, { name: 'a', expectedVersion: 2 });

    // Assess
    await expect(deletion).rejects.toBeInstanceOf(VersionMismatchError);
    expect(await getCounter(deps, 'a')).toMatchObject({ value: 1 });
  });

  it('lets a counter created again start afresh at version 1 with only its own history', async () => {
    // Prepare
    const { deps, deliverStream } = setup();
    for (const by of [1, 2, 3]) await incrementCounter(deps, { name: 'a', by, actor: ACTOR });
    await deliverStream();

    // Act
    await deleteCounter(deps, { name: 'a' });
    const recreated = await incrementCounter(deps, { name: 'a', by: 10, actor: ACTOR });
    await deliverStream();

    // Assess
    expect(recreated).toMatchObject({ value: 10, version: 1, created_at: recreated?.updated_at });
    const history = await counterHistory(deps, { name: 'a', limit: 10 });
    expect(history.items).toEqual([expect.objectContaining({ version: 1, value: 10, delta: 10 })]);
  });

  it('rejects a history cursor issued for the deleted counter once one of the same name exists again', async () => {
    // Prepare
    const { deps, deliverStream } = setup();
    for (const by of [1, 2, 3]) await incrementCounter(deps, { name: 'a', by, actor: ACTOR });
    await deliverStream();
    const oldPage = await counterHistory(deps, { name: 'a', limit: 1 });
    expect(oldPage.cursor).toBeDefined();
    await deleteCounter(deps, { name: 'a' });
    for (const by of [1, 2, 3]) await incrementCounter(deps, { name: 'a', by, actor: ACTOR });
    await deliverStream();

    // Act
    const reading = counterHistory(deps, { name: 'a', limit: 1, cursor: oldPage.cursor });

    // Assess
    await expect(reading).rejects.toBeInstanceOf(InvalidCursorError);
  });
});

describe('listCounters', () => {
  async function seed(deps: ServiceDeps, names: string[]): Promise<void> {
    for (const name of names) await incrementCounter(deps, { name, by: 1, actor: ACTOR });
  }

  it('lists counters ordered by name', async () => {
    // Prepare
    const { deps } = setup();
    await seed(deps, ['b', 'c', 'a']);

    // Act
    const page = await listCounters(deps, { prefix: '', limit: 10 });

    // Assess
    expect(page.items.map((counter) => counter.name)).toEqual(['a', 'b', 'c']);
    expect(page.cursor).toBeUndefined();
  });

  it('walks every counter with a prefix, a page at a time, each exactly once', async () => {
    // Prepare
    const { deps } = setup();
    await seed(deps, ['shop.e', 'other', 'shop.a', 'shop.c', 'shopper', 'shop.b', 'shop.d', 'z']);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;

    // Act
    do {
      const page = await listCounters(deps, { prefix: 'shop.', limit: 2, cursor });
      seen.push(...page.items.map((counter) => counter.name));
      cursor = page.cursor;
      pages++;
    } while (cursor !== undefined && pages < 10);

    // Assess
    expect(seen).toEqual(['shop.a', 'shop.b', 'shop.c', 'shop.d', 'shop.e']);
    expect(pages).toBe(3);
  });

  it('gives no cursor when the last page is exactly full', async () => {
    // Prepare
    const { deps } = setup();
    await seed(deps, ['a', 'b']);

    // Act
    const page = await listCounters(deps, { prefix: '', limit: 2 });

    // Assess
    expect(page.items).toHaveLength(2);
    expect(page.cursor).toBeUndefined();
  });

  it('rejects a cursor issued for another prefix', async () => {
    // Prepare
    const { deps } = setup();
    await seed(deps, ['a.1', 'a.2', 'a.3', 'b.1', 'b.2']);
    const page = await listCounters(deps, { prefix: 'a.', limit: 1 });
    expect(page.cursor).toBeDefined();

    // Act
    const listing = listCounters(deps, { prefix: 'b.', limit: 1, cursor: page.cursor });

    // Assess
    await expect(listing).rejects.toBeInstanceOf(InvalidCursorError);
  });

  it('rejects a cursor whose position lies outside its own prefix', async () => {
    // Prepare
    const { deps } = setup();
    const forged = encodeCursor({ p: 'shop.', a: 'zzz' });

    // Act
    const listing = listCounters(deps, { prefix: 'shop.', limit: 1, cursor: forged });

    // Assess
    await expect(listing).rejects.toBeInstanceOf(InvalidCursorError);
  });

  it.each([
    ['not base64url', 'not a cursor!'],
    ['base64url but not JSON', Buffer.from('{nope').toString('base64url')],
    ['JSON of the wrong shape', encodeCursor({ p: '', a: 'x', extra: 1 })],
    ['a history cursor', encodeCursor({ i: 'incarnation-1', v: 3 })],
    ['too long', 'A'.repeat(2000)],
  ])('rejects a cursor that is %s', async (_what, cursor) => {
    // Prepare
    const { deps } = setup();

    // Act
    const listing = listCounters(deps, { prefix: '', limit: 1, cursor });

    // Assess
    await expect(listing).rejects.toBeInstanceOf(InvalidCursorError);
  });
});

describe('counterHistory', () => {
  it('returns one entry per change, oldest first, with value and delta chained', async () => {
    // Prepare
    const { deps, deliverStream } = setup();
    await incrementCounter(deps, { name: 'a', by: 5, actor: ACTOR });
    await incrementCounter(deps, { name: 'a', by: -2, actor: 'arn:other' });
    await setCounter(deps, { name: 'a', value: 100, actor: ACTOR });
    await deliverStream();

    // Act
    const history = await counterHistory(deps, { name: 'a', limit: 10 });

    // Assess
    expect(history.items).toEqual([
      {
        version: 1,
        value: 5,
        delta: 5,
        op: 'increment',
        created_at: '2025-01-01T00:00:00.000Z',
        actor: ACTOR,
      },
      {
        version: 2,
        value: 3,
        delta: -2,
        op: 'increment',
        created_at: '2025-01-01T00:00:01.000Z',
        actor: 'arn:other',
      },
      { version: 3, value: 100, delta: 97, op: 'set', created_at: '2025-01-01T00:00:02.000Z', actor: ACTOR },
    ]);
    expect(history.cursor).toBeUndefined();
  });

  it("tells the repository a sharded counter's shards, and none for a plain one, so the store reads each history as it wrote it", async () => {
    // Prepare
    const { repository, deps } = setup();
    await setCounter(deps, { name: 'hot', value: 0, shards: 4, actor: ACTOR });
    await incrementCounter(deps, { name: 'plain', by: 1, actor: ACTOR });
    const asked: (number | undefined)[] = [];
    const history = repository.history.bind(repository);
    repository.history = async (query) => {
      asked.push(query.shards);
      return history(query);
    };

    // Act
    await counterHistory(deps, { name: 'hot', limit: 10 });
    await counterHistory(deps, { name: 'plain', limit: 10 });

    // Assess
    expect(asked).toEqual([4, undefined]);
  });

  it('pages through the history with cursors, each version exactly once', async () => {
    // Prepare
    const { deps, deliverStream } = setup();
    for (let i = 0; i < 7; i++) await incrementCounter(deps, { name: 'a', by: 1, actor: ACTOR });
    await deliverStream();
    const versions: number[] = [];
    let cursor: string | undefined;
    let pages = 0;

    // Act
    do {
      const page = await counterHistory(deps, { name: 'a', limit: 3, cursor });
      versions.push(...page.items.map((entry) => entry.version));
      cursor = page.cursor;
      pages++;
    } while (cursor !== undefined && pages < 10);

    // Assess
    expect(versions).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(pages).toBe(3);
  });

  it('returns an empty history for the never-changed default counter', async () => {
    // Prepare
    const { deps } = setup();

    // Act
    const history = await counterHistory(deps, { name: 'default', limit: 10 });

    // Assess
    expect(history).toEqual({ items: [] });
  });

  it('refuses the history of an absent counter with CounterNotFoundError', async () => {
    // Prepare
    const { deps } = setup();

    // Act
    const reading = counterHistory(deps, { name: 'absent', limit: 10 });

    // Assess
    await expect(reading).rejects.toBeInstanceOf(CounterNotFoundError);
  });

  it("rejects another counter's history cursor", async () => {
    // Prepare
    const { deps, deliverStream } = setup();
    for (const name of ['a', 'a', 'b', 'b']) await incrementCounter(deps, { name, by: 1, actor: ACTOR });
    await deliverStream();
    const pageOfA = await counterHistory(deps, { name: 'a', limit: 1 });
    expect(pageOfA.cursor).toBeDefined();

    // Act
    const reading = counterHistory(deps, { name: 'b', limit: 1, cursor: pageOfA.cursor });

    // Assess
    await expect(reading).rejects.toBeInstanceOf(InvalidCursorError);
  });

  it('rejects a cursor past the version the counter has reached, which no page can have ended at', async () => {
    // Prepare
    const { deps, deliverStream } = setup();
    for (let i = 0; i < 3; i++) await incrementCounter(deps, { name: 'a', by: 1, actor: ACTOR });
    await deliverStream();

    // Act
    const reading = counterHistory(deps, {
      name: 'a',
      limit: 1,
      cursor: encodeCursor({ i: 'incarnation-1', v: 4 }),
    });

    // Assess
    await expect(reading).rejects.toBeInstanceOf(InvalidCursorError);
    const last = await counterHistory(deps, {
      name: 'a',
      limit: 1,
      cursor: encodeCursor({ i: 'incarnation-1', v: 3 }),
    });
    expect(last).toEqual({ items: [] });
  });

  it('rejects a list cursor given to the history', async () => {
    // Prepare
    const { deps } = setup();
    await incrementCounter(deps, { name: 'a', by: 1, actor: ACTOR });

    // Act
    const reading = counterHistory(deps, { name: 'a', limit: 1, cursor: encodeCursor({ p: '', a: 'a' }) });

    // Assess
    await expect(reading).rejects.toBeInstanceOf(InvalidCursorError);
  });
});

describe('counterSeries', () => {
  /** A counter changed once at each of `times`, its stream delivered. */
  async function changedAt(times: string[]) {
    const repository = new InMemoryCounterRepository();
    let next = 0;
    const deps: ServiceDeps = {
      repository,
      now: () => times[next++] ?? '2099-01-01T00:00:00.000Z',
      newId: () => 'incarnation-1',
    };
    for (const _ of times) await incrementCounter(deps, { name: 'a', by: 1, actor: ACTOR });
    expect((await recordHistory(repository.historyStore, repository.takeStream())).failedId).toBeUndefined();
    return deps;
  }

  it.each([
    ['minute', ['2025-01-01T00:00:00.000Z', '2025-01-01T00:01:00.000Z', '2025-01-01T00:02:00.000Z']],
    ['hour', ['2025-01-01T00:00:00.000Z', '2025-01-01T01:00:00.000Z', '2025-01-01T02:00:00.000Z']],
    ['day', ['2025-01-01T00:00:00.000Z', '2025-01-02T00:00:00.000Z', '2025-01-03T00:00:00.000Z']],
  ] as const)(
    'pages through %s buckets with cursors, each bucket once and in order',
    async (interval, starts) => {
      // Prepare
      const deps = await changedAt(starts.flatMap((start) => [start, start.replace(':00.000Z', ':30.000Z')]));
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;

      // Act
      do {
        const page = await counterSeries(deps, { name: 'a', interval, limit: 1, cursor });
        seen.push(...page.items.map((bucket) => bucket.start));
        cursor = page.cursor;
        pages++;
      } while (cursor !== undefined && pages < 10);

      // Assess
      expect(seen).toEqual(starts);
      expect(pages).toBe(3);
    },
  );

  it('rejects a cursor that is not the start of a bucket of the interval asked for', async () => {
    // Prepare
    const deps = await changedAt(['2025-01-01T00:00:00.000Z', '2025-01-01T01:05:00.000Z']);
    const minuteCursor = (await counterSeries(deps, { name: 'a', interval: 'minute', limit: 1 })).cursor;
    expect(minuteCursor).toBeDefined();
    const midHour = encodeCursor({ i: 'incarnation-1', s: '2025-01-01T00:05:00.000Z' });

    // Act
    const reading = counterSeries(deps, { name: 'a', interval: 'hour', limit: 1, cursor: midHour });

    // Assess
    await expect(reading).rejects.toBeInstanceOf(InvalidCursorError);
    // A minute's start that is also an hour's is a position in the hour series too.
    const next = await counterSeries(deps, { name: 'a', interval: 'hour', limit: 1, cursor: minuteCursor });
    expect(next.items.map((bucket) => bucket.start)).toEqual(['2025-01-01T01:00:00.000Z']);
  });
});

describe('bounded counters', () => {
  it('sets bounds with a value, keeps them through later sets, and removes one given null', async () => {
    // Prepare
    const { deps } = setup();

    // Act
    const bounded = await setCounter(deps, { name: 'stock', value: 50, min: 0, max: 100, actor: ACTOR });
    const kept = await setCounter(deps, { name: 'stock', value: 20, actor: ACTOR });
    const opened = await setCounter(deps, { name: 'stock', value: 20, max: null, actor: ACTOR });

    // Assess
    expect(bounded).toMatchObject({ value: 50, min: 0, max: 100 });
    expect(kept).toMatchObject({ value: 20, min: 0, max: 100 });
    expect(opened).toMatchObject({ value: 20, min: 0 });
    expect(opened).not.toHaveProperty('max');
  });

  it('refuses an increment that would leave the bounds, naming the bound and the value, changing nothing', async () => {
    // Prepare
    const { deps } = setup();
    await setCounter(deps, { name: 'stock', value: 3, min: 0, actor: ACTOR });

    // Act
    const taking = incrementCounter(deps, { name: 'stock', by: -4, actor: ACTOR });

    // Assess
    await expect(taking).rejects.toMatchObject({
      name: 'CounterOutOfBoundsError',
      message: 'Counter "stock" is 3; subtracting 4 would take it below its min 0, so it was not applied.',
    });
    expect(await getCounter(deps, 'stock')).toMatchObject({ value: 3, version: 1 });
  });

  it('takes the counter exactly to its bound, and not one past it', async () => {
    // Prepare
    const { deps } = setup();
    await setCounter(deps, { name: 'seats', value: 8, max: 10, actor: ACTOR });

    // Act
    const full = await incrementCounter(deps, { name: 'seats', by: 2, actor: ACTOR });
    const over = incrementCounter(deps, { name: 'seats', by: 1, actor: ACTOR });

    // Assess
    expect(full).toMatchObject({ value: 10, version: 2 });
    await expect(over).rejects.toMatchObject({
      name: 'CounterOutOfBoundsError',
      bound: { side: 'max', value: 10 },
    });
  });

  it('refuses a set outside a bound it keeps, even one that moves the other bound', async () => {
    // Prepare
    const { deps } = setup();
    await setCounter(deps, { name: 'stock', value: 5, min: 0, max: 10, actor: ACTOR });

    // Act
    const below = setCounter(deps, { name: 'stock', value: -1, actor: ACTOR });
    const crossed = setCounter(deps, { name: 'stock', value: 11, min: 1, actor: ACTOR });

    // Assess
    await expect(below).rejects.toMatchObject({
      name: 'CounterOutOfBoundsError',
      bound: { side: 'min', value: 0 },
    });
    await expect(crossed).rejects.toMatchObject({
      name: 'CounterOutOfBoundsError',
      bound: { side: 'max', value: 10 },
    });
    expect(await getCounter(deps, 'stock')).toMatchObject({ value: 5, min: 0, max: 10, version: 1 });
  });

  it('refuses bounds for a sharded counter, whose shards could not keep them exact', async () => {
    // Prepare
    const { deps } = setup();

    // Act
    const creating = setCounter(deps, { name: 'hot', value: 0, shards: 4, min: 0, actor: ACTOR });

    // Assess
    await expect(creating).rejects.toMatchObject({ name: 'ShardLayoutError' });
    await expect(getCounter(deps, 'hot')).rejects.toBeInstanceOf(CounterNotFoundError);
  });

  it('writes the bounds in force into each history entry of a bounded counter', async () => {
    // Prepare
    const { deps, deliverStream } = setup();
    await setCounter(deps, { name: 'stock', value: 5, min: 0, actor: ACTOR });
    await incrementCounter(deps, { name: 'stock', by: -2, actor: ACTOR });
    await setCounter(deps, { name: 'stock', value: 3, min: null, actor: ACTOR });
    await deliverStream();

    // Act
    const history = await counterHistory(deps, { name: 'stock', limit: 10 });

    // Assess
    expect(history.items.map(({ version, value, min }) => ({ version, value, min }))).toEqual([
      { version: 1, value: 5, min: 0 },
      { version: 2, value: 3, min: 0 },
      { version: 3, value: 3, min: undefined },
    ]);
  });
});
