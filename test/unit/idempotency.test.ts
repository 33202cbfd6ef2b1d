import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CounterNotFoundError,
  CounterOutOfRangeError,
  VersionMismatchError,
} from '../../functions/counter/errors.ts';
import {
  type ChangeCommand,
  CLAIM_LEASE_MS,
  ContendedCounterError,
  changeIdempotently,
  fingerprintOf,
  IDEMPOTENCY_TTL_SECONDS,
  IdempotencyKeyReusedError,
  type IdempotentDeps,
  idempotencyId,
  planChange,
  RequestInFlightError,
} from '../../functions/counter/idempotency.ts';
import { MAX_VALUE, MIN_VALUE, type StoredCounter, toCounter } from '../../functions/counter/schema.ts';
import { InMemoryIdempotencyStore } from '../support/in-memory-idempotency-store.ts';
import { InMemoryCounterRepository } from '../support/in-memory-repository.ts';
import { renderOutcome } from '../support/render-outcome.ts';

const ACTOR = 'arn:aws:iam::000000000000:user/tester';
const OTHER_ACTOR = 'arn:aws:iam::000000000000:user/someone-else';
const KEY = 'retry-7f3a9c';
const ID = idempotencyId(ACTOR, KEY);
const T0 = Date.UTC(2025, 0, 1);
const HOUR_MS = 60 * 60 * 1000;

function setup() {
  const repository = new InMemoryCounterRepository();
  const store = new InMemoryIdempotencyStore(repository);
  let tick = 0;
  let ids = 0;
  const sleep = vi.fn(async (_ms: number) => undefined);
  const deps: IdempotentDeps = {
    store,
    read: (name) => repository.get(name),
    now: () => new Date(T0 + 1000 * tick++).toISOString(),
    newId: () => `id-${++ids}`,
    sleep,
  };
  const run = (command: ChangeCommand, key = KEY) =>
    changeIdempotently(deps, { id: idempotencyId(command.actor, key), command }, render);
  /** Another caller's plain change, outside any key. */
  const otherWriter = (by: number) =>
    repository.increment({ name: 'visits', by, actor: OTHER_ACTOR, now: 'later', newIncarnation: 'other' });
  return { repository, store, deps, sleep, run, otherWriter };
}

/** Keyed changes' outcomes, rendered as the HTTP adapter would. */
const render = renderOutcome;

function increment(by = 1, expectedVersion?: number, name = 'visits'): ChangeCommand {
  return { op: 'increment', name, by, actor: ACTOR, expectedVersion };
}

function set(value: number, expectedVersion?: number): ChangeCommand {
  return { op: 'set', name: 'visits', value, actor: ACTOR, expectedVersion };
}

function remove(expectedVersion?: number): ChangeCommand {
  return { op: 'delete', name: 'visits', actor: ACTOR, expectedVersion };
}

function stored(overrides: Partial<StoredCounter> = {}): StoredCounter {
  return {
    name: 'visits',
    value: 5,
    version: 3,
    created_at: '2024-06-01T00:00:00.000Z',
    updated_at: '2024-06-02T00:00:00.000Z',
    incarnation: 'inc-old',
    op: 'increment',
    actor: OTHER_ACTOR,
    ...overrides,
  };
}

async function counterNow(repository: InMemoryCounterRepository) {
  const counter = await repository.get('visits');
  return counter === undefined ? undefined : toCounter(counter);
}

afterEach(() => {
  vi.useRealTimers();
});

describe('changeIdempotently: the first call and its repeats', () => {
  it('answers the first call with the change it made, and changes the counter once', async () => {
    // Prepare
    const { repository, store, run } = setup();

    // Act
    const result = await run(increment(5));

    // Assess
    expect(result.replayed).toBe(false);
    expect(result.answer.statusCode).toBe(200);
    expect(JSON.parse(result.answer.body)).toEqual(await counterNow(repository));
    expect(await counterNow(repository)).toMatchObject({ value: 5, version: 1 });
    expect(repository.takeStream()).toHaveLength(1);
    expect(store.peek(ID)).toMatchObject({ status: 'done', answer: result.answer });
  });

  it('replays the stored answer to the same request with the same key, and changes nothing', async () => {
    // Prepare
    const { repository, run } = setup();
    const first = await run(increment(5));
    repository.takeStream();

    // Act
    const repeat = await run(increment(5));

    // Assess
    expect(repeat).toEqual({ answer: first.answer, replayed: true });
    expect(await counterNow(repository)).toMatchObject({ value: 5, version: 1 });
    expect(repository.takeStream()).toEqual([]);
  });

  it('replays the first answer even after other changes moved the counter on', async () => {
    // Prepare
    const { repository, run, otherWriter } = setup();
    const first = await run(increment(5));
    await otherWriter(100);

    // Act
    const repeat = await run(increment(5));

    // Assess
    expect(repeat).toEqual({ answer: first.answer, replayed: true });
    expect(await counterNow(repository)).toMatchObject({ value: 105, version: 2 });
  });

  it.each<[string, ChangeCommand]>([
    ['another amount', increment(6)],
    ['another counter', increment(5, undefined, 'other')],
    ['another operation', set(5)],
    ['a delete', remove()],
    ['an If-Match the first did not send', increment(5, 1)],
  ])('refuses the same key with %s as IdempotencyKeyReusedError, and changes nothing', async (_, other) => {
    // Prepare
    const { repository, run } = setup();
    await run(increment(5));
    repository.takeStream();

    // Act
    const reuse = run(other);

    // Assess
    await expect(reuse).rejects.toBeInstanceOf(IdempotencyKeyReusedError);
    expect(await counterNow(repository)).toMatchObject({ value: 5, version: 1 });
    expect(await repository.get('other')).toBeUndefined();
    expect(repository.takeStream()).toEqual([]);
  });

  it('refuses the same key with another If-Match than the first sent', async () => {
    // Prepare
    const { repository, run } = setup();
    await repository.set({ name: 'visits', value: 1, actor: ACTOR, now: 'then', newIncarnation: 'i' });
    await run(increment(5, 1));

    // Act
    const reuse = run(increment(5, 2));

    // Assess
    await expect(reuse).rejects.toBeInstanceOf(IdempotencyKeyReusedError);
    expect(await counterNow(repository)).toMatchObject({ value: 6, version: 2 });
  });

  it('treats an increment without a body and one with {"by": 1} as the same request', async () => {
    // Prepare: the increment handler turns a missing body into by 1 and a missing If-Match into undefined.
    const { repository, run } = setup();
    const withoutBody: ChangeCommand = {
      op: 'increment',
      name: 'visits',
      by: 1,
      actor: ACTOR,
      expectedVersion: undefined,
    };
    const withBody: ChangeCommand = { op: 'increment', name: 'visits', by: 1, actor: ACTOR };
    const first = await run(withoutBody);

    // Act
    const repeat = await run(withBody);

    // Assess
    expect(repeat).toEqual({ answer: first.answer, replayed: true });
    expect(await counterNow(repository)).toMatchObject({ value: 1, version: 1 });
  });

  it('keeps the same key of two principals apart: each runs its own change', async () => {
    // Prepare
    const { repository, run } = setup();
    const first = await run(increment(1));

    // Act
    const second = await run({ ...increment(1), actor: OTHER_ACTOR });

    // Assess
    expect(idempotencyId(ACTOR, KEY)).not.toBe(idempotencyId(OTHER_ACTOR, KEY));
    expect(first.replayed).toBe(false);
    expect(second.replayed).toBe(false);
    expect(JSON.parse(second.answer.body)).toMatchObject({ value: 2, version: 2 });
    expect(await counterNow(repository)).toMatchObject({ value: 2, version: 2 });
  });
});

describe('changeIdempotently: claims in flight and abandoned', () => {
  it('tells a repeat that arrives while the first is in flight to retry, and the first changes once', async () => {
    // Prepare
    const { repository, store, run } = setup();
    let repeat: Promise<unknown> | undefined;
    store.beforeCommit = async () => {
      store.beforeCommit = undefined;
      repeat = run(increment(1));
      await repeat.catch(() => undefined);
    };

    // Act
    const first = await run(increment(1));

    // Assess
    await expect(repeat).rejects.toBeInstanceOf(RequestInFlightError);
    expect(first.replayed).toBe(false);
    expect(await counterNow(repository)).toMatchObject({ value: 1, version: 1 });
    expect(store.peek(ID)).toMatchObject({ status: 'done', answer: first.answer });
  });

  it('tells a repeat to retry while a claim is within its lease, even if its owner is gone', async () => {
    // Prepare
    const { repository, store, run } = setup();
    await store.claim(ID, fingerprintOf(increment(1)), 'gone', Date.now() - CLAIM_LEASE_MS + 5_000);

    // Act
    const repeat = run(increment(1));

    // Assess
    await expect(repeat).rejects.toBeInstanceOf(RequestInFlightError);
    expect(await repository.get('visits')).toBeUndefined();
    expect(store.peek(ID)).toMatchObject({ status: 'in-flight', owner: 'gone' });
  });

  it('goes on with its own claim when the put was sent again after its answer was lost', async () => {
    // Prepare
    const { repository, store, run } = setup();
    store.loseNextClaimAnswer();

    // Act
    const result = await run(increment(1));

    // Assess
    expect(result.replayed).toBe(false);
    expect(await counterNow(repository)).toMatchObject({ value: 1, version: 1 });
    expect(store.peek(ID)).toMatchObject({ status: 'done', answer: result.answer });
  });

  it('takes over a claim abandoned past its lease and changes the counter once', async () => {
    // Prepare
    const { repository, store, run } = setup();
    await store.claim(ID, fingerprintOf(increment(1)), 'gone', Date.now() - CLAIM_LEASE_MS - 1_000);

    // Act
    const retry = await run(increment(1));

    // Assess
    expect(retry.replayed).toBe(false);
    expect(await counterNow(repository)).toMatchObject({ value: 1, version: 1 });
    expect(store.peek(ID)).toMatchObject({ status: 'done', answer: retry.answer });
    expect(store.peek(ID)?.owner).not.toBe('gone');
  });

  it('keeps an owner whose claim was taken over from committing: it is told to retry and the change lands once', async () => {
    // Prepare: the first attempt stalls past its lease before committing; a retry takes over meanwhile
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const { repository, store, run } = setup();
    let retry: Awaited<ReturnType<typeof run>> | undefined;
    store.beforeCommit = async () => {
      store.beforeCommit = undefined;
      vi.setSystemTime(T0 + CLAIM_LEASE_MS + 1_000);
      retry = await run(increment(1));
    };

    // Act
    const stalled = run(increment(1));

    // Assess
    await expect(stalled).rejects.toBeInstanceOf(RequestInFlightError);
    expect(retry?.replayed).toBe(false);
    expect(await counterNow(repository)).toMatchObject({ value: 1, version: 1 });
    expect(store.peek(ID)).toMatchObject({ status: 'done', answer: retry?.answer });
  });
});

describe('changeIdempotently: how long a key is remembered', () => {
  it('replays for at least 24 hours after the answer', async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const { repository, run } = setup();
    const first = await run(increment(1));
    vi.setSystemTime(T0 + 24 * HOUR_MS);

    // Act
    const repeat = await run(increment(1));

    // Assess
    expect(repeat).toEqual({ answer: first.answer, replayed: true });
    expect(await counterNow(repository)).toMatchObject({ value: 1 });
  });

  it('runs a request afresh once its record is past the TTL that DynamoDB would delete it at', async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const { repository, run } = setup();
    await run(increment(1));
    vi.setSystemTime(T0 + (IDEMPOTENCY_TTL_SECONDS + 1) * 1000);

    // Act
    const later = await run(increment(1));

    // Assess
    expect(later.replayed).toBe(false);
    expect(JSON.parse(later.answer.body)).toMatchObject({ value: 2, version: 2 });
    expect(await counterNow(repository)).toMatchObject({ value: 2, version: 2 });
  });
});

describe('changeIdempotently: refusals', () => {
  it.each<[string, number, (repository: InMemoryCounterRepository) => Promise<unknown>, ChangeCommand]>([
    [
      'an increment out of range',
      409,
      (repository) =>
        repository.set({ name: 'visits', value: MAX_VALUE, actor: ACTOR, now: 'then', newIncarnation: 'i' }),
      increment(1),
    ],
    [
      'an If-Match for another version',
      412,
      (repository) =>
        repository.set({ name: 'visits', value: 3, actor: ACTOR, now: 'then', newIncarnation: 'i' }),
      set(10, 7),
    ],
    ['a delete of an absent counter', 404, async () => undefined, remove()],
  ])('records %s, replays the refusal and changes nothing', async (_, status, prepare, command) => {
    // Prepare
    const { repository, store, run } = setup();
    await prepare(repository);
    const before = await repository.get('visits');
    repository.takeStream();

    // Act
    const first = await run(command);
    const repeat = await run(command);

    // Assess
    expect(first.answer.statusCode).toBe(status);
    expect(first.replayed).toBe(false);
    expect(repeat).toEqual({ answer: first.answer, replayed: true });
    expect(store.peek(ID)).toMatchObject({ status: 'done', answer: first.answer });
    expect(await repository.get('visits')).toEqual(before);
    expect(repository.takeStream()).toEqual([]);
  });

  it('replays a refused delete as refused even after the counter came to exist', async () => {
    // Prepare
    const { repository, run, otherWriter } = setup();
    const first = await run(remove());
    await otherWriter(1);

    // Act
    const repeat = await run(remove());

    // Assess
    expect(repeat).toEqual({ answer: first.answer, replayed: true });
    expect(repeat.answer.statusCode).toBe(404);
    expect(await counterNow(repository)).toMatchObject({ value: 1, version: 1 });
  });
});

describe('changeIdempotently: concurrent changes', () => {
  it('plans again from the new state when another change lands before the commit, and answers the final state exactly', async () => {
    // Prepare
    const { repository, store, run, otherWriter } = setup();
    store.beforeCommit = async () => {
      store.beforeCommit = undefined;
      await otherWriter(10);
    };

    // Act
    const result = await run(increment(1));

    // Assess
    expect(store.calls.commit).toBe(2);
    expect(JSON.parse(result.answer.body)).toEqual(await counterNow(repository));
    expect(await counterNow(repository)).toMatchObject({ value: 11, version: 2 });
    expect(result.answer.headers).toEqual({ etag: '"2"' });
  });

  it('plans a set again when the counter moved, answering the version it actually wrote', async () => {
    // Prepare
    const { repository, store, run, otherWriter } = setup();
    await otherWriter(1);
    store.beforeCommit = async () => {
      store.beforeCommit = undefined;
      await otherWriter(1);
    };

    // Act
    const result = await run(set(50));

    // Assess
    expect(JSON.parse(result.answer.body)).toEqual(await counterNow(repository));
    expect(await counterNow(repository)).toMatchObject({ value: 50, version: 3 });
  });

  it('refuses with 412 a keyed change under If-Match when the counter moved before its commit', async () => {
    // Prepare
    const { repository, store, run, otherWriter } = setup();
    await otherWriter(1);
    store.beforeCommit = async () => {
      store.beforeCommit = undefined;
      await otherWriter(1);
    };

    // Act
    const result = await run(increment(5, 1));

    // Assess
    expect(result.answer.statusCode).toBe(412);
    expect(await counterNow(repository)).toMatchObject({ value: 2, version: 2 });
    expect(store.peek(ID)).toMatchObject({ status: 'done', answer: result.answer });
  });

  it('answers what the change did when the counter was deleted and created again at the same version before the commit', async () => {
    // Prepare: between the plan and the commit, the counter is deleted and created again at the same
    // version. Its version alone cannot tell the two apart.
    const { repository, store, run } = setup();
    await repository.set({ name: 'visits', value: 5, actor: ACTOR, now: 'then', newIncarnation: 'first' });
    store.beforeCommit = async () => {
      store.beforeCommit = undefined;
      await repository.delete({ name: 'visits' });
      await repository.increment({
        name: 'visits',
        by: 10,
        actor: OTHER_ACTOR,
        now: 'later',
        newIncarnation: 'second',
      });
    };

    // Act
    const result = await run(increment(1));

    // Assess: the answer must be what the change did to the counter that is there now
    expect(JSON.parse(result.answer.body)).toEqual(await counterNow(repository));
  });

  it('gives up with ContendedCounterError when every commit finds the counter moved, and releases the claim', async () => {
    // Prepare
    const { repository, store, sleep, run, otherWriter } = setup();
    store.beforeCommit = async () => {
      await otherWriter(1);
    };

    // Act
    const contended = run(increment(100));

    // Assess
    await expect(contended).rejects.toBeInstanceOf(ContendedCounterError);
    expect(store.calls.commit).toBeGreaterThan(1);
    expect(await counterNow(repository)).toMatchObject({ value: store.calls.commit });
    expect(sleep.mock.calls.length).toBeGreaterThanOrEqual(store.calls.commit - 1);
    expect(store.peek(ID)).toBeUndefined();
  });

  it('lets a retry with the same key run once the contention that refused it has passed', async () => {
    // Prepare
    const { repository, store, run, otherWriter } = setup();
    store.beforeCommit = async () => {
      await otherWriter(1);
    };
    await expect(run(increment(100))).rejects.toBeInstanceOf(ContendedCounterError);
    store.beforeCommit = undefined;
    const before = (await counterNow(repository))?.value ?? 0;

    // Act
    const retry = await run(increment(100));

    // Assess
    expect(retry.replayed).toBe(false);
    expect(await counterNow(repository)).toMatchObject({ value: before + 100 });
  });
});

describe('changeIdempotently: failures', () => {
  it('replays, and counts once, a retry after the first attempt died right after its commit', async () => {
    // Prepare
    const { repository, store, run } = setup();
    store.failAfterNextCommit(new Error('Lambda died before hearing back'));
    await expect(run(increment(3))).rejects.toThrow('Lambda died before hearing back');

    // Act
    const retry = await run(increment(3));

    // Assess
    expect(retry.replayed).toBe(true);
    expect(JSON.parse(retry.answer.body)).toMatchObject({ value: 3, version: 1 });
    expect(await counterNow(repository)).toMatchObject({ value: 3, version: 1 });
    expect(repository.takeStream()).toHaveLength(1);
  });

  it('releases the claim when the commit fails, so a retry with the same key runs', async () => {
    // Prepare
    const { repository, store, run } = setup();
    store.failNext('commit', new Error('ServiceUnavailable'));
    await expect(run(increment(3))).rejects.toThrow('ServiceUnavailable');
    const afterFailure = store.peek(ID);

    // Act
    const retry = await run(increment(3));

    // Assess
    expect(afterFailure).toBeUndefined();
    expect(retry.replayed).toBe(false);
    expect(await counterNow(repository)).toMatchObject({ value: 3, version: 1 });
  });

  it('releases the claim when recording a refusal fails, so a retry with the same key runs', async () => {
    // Prepare
    const { store, run } = setup();
    store.failNext('complete', new Error('ServiceUnavailable'));
    await expect(run(remove())).rejects.toThrow('ServiceUnavailable');
    const afterFailure = store.peek(ID);

    // Act
    const retry = await run(remove());

    // Assess
    expect(afterFailure).toBeUndefined();
    expect(retry).toMatchObject({ replayed: false, answer: { statusCode: 404 } });
  });

  it('releases the claim when reading the counter fails', async () => {
    // Prepare
    const { store, deps } = setup();
    const failing: IdempotentDeps = {
      ...deps,
      read: async () => {
        throw new Error('ServiceUnavailable');
      },
    };

    // Act
    const attempt = changeIdempotently(failing, { id: ID, command: increment(1) }, render);

    // Assess
    await expect(attempt).rejects.toThrow('ServiceUnavailable');
    expect(store.peek(ID)).toBeUndefined();
    expect(store.calls.release).toBe(1);
  });

  it('passes on the original failure when releasing the claim fails too', async () => {
    // Prepare
    const { store, run } = setup();
    store.failNext('commit', new Error('ServiceUnavailable'));
    store.failNext('release', new Error('release failed'));

    // Act
    const attempt = run(increment(1));

    // Assess
    await expect(attempt).rejects.toThrow('ServiceUnavailable');
    expect(store.peek(ID)).toMatchObject({ status: 'in-flight' });
  });
});

describe('planChange', () => {
  const NOW = '2025-03-01T12:00:00.000Z';

  it('creates an absent counter at version 1 with the new incarnation, planned from no version', () => {
    // Act
    const plan = planChange(increment(4), undefined, NOW, 'inc-new');

    // Assess
    expect(plan).toEqual({
      kind: 'change',
      change: {
        kind: 'increment',
        input: { name: 'visits', actor: ACTOR, now: NOW, newIncarnation: 'inc-new', by: 4 },
        seen: undefined,
      },
      outcome: {
        kind: 'counter',
        counter: { name: 'visits', value: 4, version: 1, created_at: NOW, updated_at: NOW },
      },
    });
  });

  it('adds to an existing counter from the version it saw, keeping its creation time', () => {
    // Act
    const plan = planChange(increment(-7), stored({ value: 5, version: 3 }), NOW, 'inc-new');

    // Assess
    expect(plan).toMatchObject({
      kind: 'change',
      change: { kind: 'increment', seen: { version: 3, incarnation: 'inc-old' }, input: { by: -7 } },
      outcome: {
        kind: 'counter',
        counter: { value: -2, version: 4, created_at: '2024-06-01T00:00:00.000Z', updated_at: NOW },
      },
    });
  });

  it('sets the value from the version it saw', () => {
    // Act
    const plan = planChange(set(42), stored({ value: 5, version: 3 }), NOW, 'inc-new');

    // Assess
    expect(plan).toMatchObject({
      kind: 'change',
      change: {
        kind: 'set',
        seen: { version: 3, incarnation: 'inc-old' },
        input: { value: 42, name: 'visits' },
      },
      outcome: { kind: 'counter', counter: { value: 42, version: 4 } },
    });
  });

  it('deletes an existing counter from the version it saw', () => {
    // Act
    const plan = planChange(remove(), stored({ version: 3 }), NOW, 'inc-new');

    // Assess
    expect(plan).toEqual({
      kind: 'change',
      change: { kind: 'delete', name: 'visits', seen: { version: 3, incarnation: 'inc-old' } },
      outcome: { kind: 'deleted' },
    });
  });

  it('refuses to delete an absent counter with CounterNotFoundError', () => {
    // Act
    const plan = planChange(remove(), undefined, NOW, 'inc-new');

    // Assess
    expect(plan.kind).toBe('refused');
    expect(plan.kind === 'refused' && plan.error).toBeInstanceOf(CounterNotFoundError);
  });

  it.each<[string, number, number, boolean]>([
    ['reaching the top', MAX_VALUE - 1, 1, true],
    ['passing the top', MAX_VALUE, 1, false],
    ['passing the top by far', MAX_VALUE, MAX_VALUE, false],
    ['reaching the bottom', MIN_VALUE + 1, -1, true],
    ['passing the bottom', MIN_VALUE, -1, false],
    ['crossing the whole range', MIN_VALUE, MAX_VALUE, true],
  ])('checks the range on %s (%d + %d)', (_, value, by, allowed) => {
    // Act
    const plan = planChange(increment(by), stored({ value }), NOW, 'inc-new');

    // Assess
    if (allowed) {
      expect(plan).toMatchObject({ kind: 'change', outcome: { counter: { value: value + by } } });
    } else {
      expect(plan.kind).toBe('refused');
      expect(plan.kind === 'refused' && plan.error).toBeInstanceOf(CounterOutOfRangeError);
    }
  });

  it.each([MAX_VALUE, MIN_VALUE])('sets the bound %d itself', (value) => {
    // Act
    const plan = planChange(set(value), stored(), NOW, 'inc-new');

    // Assess
    expect(plan).toMatchObject({ kind: 'change', outcome: { counter: { value } } });
  });

  it('takes If-Match "0" to mean the counter must not exist yet', () => {
    // Act
    const absent = planChange(increment(1, 0), undefined, NOW, 'inc-new');
    const existing = planChange(increment(1, 0), stored({ version: 1 }), NOW, 'inc-new');

    // Assess
    expect(absent).toMatchObject({ kind: 'change', change: { seen: undefined } });
    expect(existing.kind).toBe('refused');
    expect(existing.kind === 'refused' && existing.error).toBeInstanceOf(VersionMismatchError);
  });

  it('refuses an If-Match for another version, naming the version found, before anything else', () => {
    // Act
    const mismatch = planChange(increment(1, 2), stored({ version: 3 }), NOW, 'inc-new');
    const absentDelete = planChange(remove(2), undefined, NOW, 'inc-new');

    // Assess
    expect(mismatch.kind === 'refused' && mismatch.error).toEqual(new VersionMismatchError('visits', 2, 3));
    expect(absentDelete.kind === 'refused' && absentDelete.error).toEqual(
      new VersionMismatchError('visits', 2, undefined),
    );
  });

  it('applies a change whose If-Match names the version found', () => {
    // Act
    const plan = planChange(remove(3), stored({ version: 3 }), NOW, 'inc-new');

    // Assess
    expect(plan).toMatchObject({
      kind: 'change',
      change: { kind: 'delete', seen: { version: 3, incarnation: 'inc-old' } },
    });
  });
});

describe('fingerprintOf and idempotencyId', () => {
  it('fingerprints a command whose If-Match is undefined like one without If-Match', () => {
    // Act
    const undefinedIfMatch = fingerprintOf(increment(1, undefined));
    const noIfMatch = fingerprintOf({ op: 'increment', name: 'visits', by: 1, actor: ACTOR });

    // Assess
    expect(undefinedIfMatch).toBe(noIfMatch);
  });

  it('fingerprints If-Match "0" apart from no If-Match', () => {
    // Act
    const mustNotExist = fingerprintOf(increment(1, 0));
    const anyVersion = fingerprintOf(increment(1));

    // Assess
    expect(mustNotExist).not.toBe(anyVersion);
  });

  it('leaves the principal out of the fingerprint and puts it in the id', () => {
    // Act
    const mine = fingerprintOf(increment(1));
    const theirs = fingerprintOf({ ...increment(1), actor: OTHER_ACTOR });

    // Assess
    expect(mine).toBe(theirs);
    expect(idempotencyId(ACTOR, KEY)).not.toBe(idempotencyId(OTHER_ACTOR, KEY));
    expect(idempotencyId(ACTOR, KEY)).not.toBe(idempotencyId(ACTOR, `${KEY}x`));
    expect(idempotencyId(ACTOR, KEY)).toBe(ID);
  });

  it('fingerprints two equal commands alike whatever order their fields were written in', () => {
    // Prepare: the same request, built by code that lists the fields in another order
    const oneOrder: ChangeCommand = { op: 'increment', name: 'visits', by: 1, actor: ACTOR };
    const otherOrder: ChangeCommand = { name: 'visits', by: 1, op: 'increment', actor: ACTOR };

    // Act
    const first = fingerprintOf(oneOrder);
    const second = fingerprintOf(otherOrder);

    // Assess
    expect(otherOrder).toEqual(oneOrder);
    expect(second).toBe(first);
  });
});
