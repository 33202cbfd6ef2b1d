import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AttemptFencedError,
  IdempotencyKeyReusedError,
  RequestInFlightError,
} from '../../functions/counter/errors.ts';
import {
  type ChangeCommand,
  CLAIM_LEASE_MS,
  changeIdempotently,
  fingerprintOf,
  IDEMPOTENCY_TTL_SECONDS,
  type IdempotentDeps,
  idempotencyId,
} from '../../functions/counter/idempotency.ts';
import { witness } from '../../functions/counter/keyed-witness.ts';
import { MAX_VALUE, toCounter } from '../../functions/counter/schema.ts';
import { runCommand, type ServiceDeps } from '../../functions/counter/service.ts';
import { certainlyNotWritten } from '../../functions/platform/aws-errors.ts';
import { InMemoryIdempotencyStore } from '../support/in-memory-idempotency-store.ts';
import { InMemoryCounterRepository } from '../support/in-memory-repository.ts';
import { renderOutcome } from '../support/render-outcome.ts';

const ACTOR = 'arn:aws:iam::000000000000:user/tester';
const OTHER_ACTOR = 'arn:aws:iam::000000000000:user/someone-else';
const KEY = 'retry-7f3a9c';
const ID = idempotencyId(ACTOR, KEY);
const T0 = Date.UTC(2025, 0, 1);
const HOUR_MS = 60 * 60 * 1000;

/**
 * The keyed path over the in-memory twins. `deliver` plays the table's stream to the consumer's
 * witness (keyed-witness.ts), as Lambda's event source would; `sleep` (a recovery's wait) delivers it
 * too, unless a test says the consumer is stalled.
 */
function setup() {
  const repository = new InMemoryCounterRepository();
  const store = new InMemoryIdempotencyStore(repository);
  let tick = 0;
  let ids = 0;
  let consumerRunning = true;
  const deliver = () => witness(store, repository.takeStream());
  const sleep = vi.fn(async (_ms: number) => {
    if (consumerRunning) await deliver();
  });
  const service: ServiceDeps = {
    repository,
    now: () => new Date(T0 + 1000 * tick++).toISOString(),
    newId: () => `id-${++ids}`,
  };
  const deps: IdempotentDeps = {
    store,
    repository,
    newId: () => `attempt-${++ids}`,
    notApplied: certainlyNotWritten,
    sleep,
  };
  const run = (command: ChangeCommand, key = KEY, minimal = false) =>
    changeIdempotently(
      deps,
      { id: idempotencyId(command.actor, key), command, minimal },
      (attempt) => runCommand(service, command, { attempt, readBack: !minimal }),
      renderOutcome,
    );
  /** Another caller's plain change, outside any key. */
  const otherWriter = (by: number) =>
    repository.increment({ name: 'visits', by, actor: OTHER_ACTOR, now: 'later', newIncarnation: 'other' });
  const stallConsumer = () => {
    consumerRunning = false;
  };
  return { repository, store, deps, sleep, run, otherWriter, deliver, stallConsumer };
}

function increment(by = 1, expectedVersion?: number, name = 'visits'): ChangeCommand {
  return { op: 'increment', name, by, actor: ACTOR, expectedVersion };
}

function set(value: number, expectedVersion?: number, shards?: number): ChangeCommand {
  return { op: 'set', name: 'visits', value, actor: ACTOR, expectedVersion, shards };
}

function remove(expectedVersion?: number): ChangeCommand {
  return { op: 'delete', name: 'visits', actor: ACTOR, expectedVersion };
}

async function counterNow(repository: InMemoryCounterRepository) {
  const counter = await repository.get('visits');
  return counter === undefined ? undefined : toCounter(counter);
}

/** A claim left by an attempt that is gone: its lease ended `ago` ms ago (negative: still running). */
async function abandonedClaim(store: InMemoryIdempotencyStore, command: ChangeCommand, ago = 1_000) {
  await store.claim(
    { id: ID, fingerprint: fingerprintOf(command), attempt: 'gone', targets: ['visits'], minimal: false },
    Date.now() - CLAIM_LEASE_MS - ago,
  );
}

afterEach(() => {
  vi.useRealTimers();
});

describe('changeIdempotently: the first call and its repeats', () => {
  it('answers the first call with the change it made, and changes the counter once', async () => {
    // Prepare
    const { repository, store, run, deliver } = setup();

    // Act
    const result = await run(increment(5));

    // Assess
    expect(result.replayed).toBe(false);
    expect(result.answer.statusCode).toBe(200);
    expect(JSON.parse(result.answer.body)).toEqual(await counterNow(repository));
    expect(await counterNow(repository)).toMatchObject({ value: 5, version: 1 });
    // The stream carries the counter the write made to the record: the answer replays are made from.
    expect(store.peek(ID)).toMatchObject({ status: 'in-flight' });
    await deliver();
    expect(store.peek(ID)).toMatchObject({ status: 'applied', counter: { value: 5, version: 1 } });
    expect(repository.takeStream()).toEqual([]);
  });

  it('reads nothing before its write: claim, the blind change, the answer', async () => {
    // Prepare
    const { repository, store, run, otherWriter } = setup();
    await otherWriter(41);
    const get = vi.spyOn(repository, 'get');

    // Act
    const result = await run(increment(1));

    // Assess
    expect(get).not.toHaveBeenCalled();
    // The answer is the write's own (ALL_NEW); the stream consumer records it, the function does not.
    expect(store.calls).toMatchObject({ claim: 1, complete: 0, read: 0, takeOver: 0 });
    expect(JSON.parse(result.answer.body)).toMatchObject({ value: 42, version: 2 });
  });

  it('answers exactly the counter its own write made, whatever others write around it, and replays it', async () => {
    // Prepare: another writer gets in right after this change's write
    const { repository, run, otherWriter, deliver } = setup();
    await otherWriter(10);
    const write = repository.increment.bind(repository);
    vi.spyOn(repository, 'increment').mockImplementationOnce(async (input) => {
      const written = await write(input);
      await otherWriter(100);
      return written;
    });

    // Act
    const mine = await run(increment(1));
    await deliver();
    const repeat = await run(increment(1));

    // Assess
    expect(JSON.parse(mine.answer.body)).toMatchObject({ value: 11, version: 2 });
    expect(repeat).toEqual({ answer: mine.answer, replayed: true });
    expect(await counterNow(repository)).toMatchObject({ value: 111, version: 3 });
  });

  it('replays the stored answer to the same request with the same key, and changes nothing', async () => {
    // Prepare
    const { repository, run, deliver } = setup();
    const first = await run(increment(5));
    await deliver();

    // Act
    const repeat = await run(increment(5));

    // Assess
    expect(repeat).toEqual({ answer: first.answer, replayed: true });
    expect(await counterNow(repository)).toMatchObject({ value: 5, version: 1 });
    expect(repository.takeStream()).toEqual([]);
  });

  it('answers a repeat that comes before the stream reached the record with exactly the first answer, once it has', async () => {
    // Prepare: the first answer was lost on its way; the caller asks again at once
    const { repository, store, run, sleep } = setup();
    const first = await run(increment(5));

    // Act: the repeat finds the write on the counter and waits for the consumer (sleep delivers)
    const repeat = await run(increment(5));

    // Assess
    expect(repeat).toEqual({ answer: first.answer, replayed: true });
    expect(sleep).toHaveBeenCalled();
    expect(store.peek(ID)).toMatchObject({ status: 'applied' });
    expect(await counterNow(repository)).toMatchObject({ value: 5, version: 1 });
  });

  it('renders every replay as the first request asked (Prefer: return=minimal), whatever the repeat asks', async () => {
    // Prepare
    const { run, deliver } = setup();
    const first = await run(increment(5), KEY, true);
    await deliver();

    // Act
    const repeat = await run(increment(5), KEY, false);

    // Assess
    expect(first.answer).toEqual({ statusCode: 204, headers: { etag: '"1"' }, body: '' });
    expect(repeat).toEqual({ answer: first.answer, replayed: true });
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

  it('counts once when copies of one keyed request race, and every copy ends with the same answer', async () => {
    // Prepare
    const { repository, run } = setup();
    const copies = 20;

    // Act: each copy retries what it is told to retry (409 while the first is in flight)
    const answers = await Promise.all(
      Array.from({ length: copies }, async () => {
        for (;;) {
          try {
            return (await run(increment(1))).answer;
          } catch (error) {
            if (!(error instanceof RequestInFlightError)) throw error;
            await new Promise((resolve) => setTimeout(resolve, 1));
          }
        }
      }),
    );

    // Assess
    expect(new Set(answers.map((answer) => answer.body)).size).toBe(1);
    expect(await counterNow(repository)).toMatchObject({ value: 1, version: 1 });
  });
});

describe('changeIdempotently: claims in flight', () => {
  it('tells a repeat that arrives while the first is in flight to retry, and the first changes once', async () => {
    // Prepare: the repeat arrives while the first is between its claim and its write
    const { repository, run } = setup();
    let repeat: Promise<unknown> | undefined;
    const increment_ = repository.increment.bind(repository);
    vi.spyOn(repository, 'increment').mockImplementationOnce(async (input) => {
      repeat = run(increment(1));
      await repeat.catch(() => undefined);
      return increment_(input);
    });

    // Act
    const first = await run(increment(1));

    // Assess
    await expect(repeat).rejects.toBeInstanceOf(RequestInFlightError);
    expect(first.replayed).toBe(false);
    expect(await counterNow(repository)).toMatchObject({ value: 1, version: 1 });
  });

  it('tells a repeat to retry while a claim is within its lease, even if its owner is gone', async () => {
    // Prepare
    const { repository, store, run } = setup();
    await abandonedClaim(store, increment(1), -5_000);

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
    expect(store.peek(ID)).toMatchObject({ status: 'in-flight', owner: expect.stringMatching(/^attempt-/) });
  });

  it('stores its answer when the consumer saw its write first, and replays that answer', async () => {
    // Prepare: the stream reaches the consumer between the write and the answer
    const { repository, store, run, deliver } = setup();
    const complete = store.complete.bind(store);
    vi.spyOn(store, 'complete').mockImplementationOnce(async (...args) => {
      await deliver();
      expect(store.peek(ID)).toMatchObject({ status: 'applied' });
      return complete(...args);
    });

    // Act
    const first = await run(increment(3));
    const repeat = await run(increment(3));

    // Assess
    expect(JSON.parse(first.answer.body)).toMatchObject({ value: 3, version: 1 });
    expect(repeat).toEqual({ answer: first.answer, replayed: true });
    expect(await counterNow(repository)).toMatchObject({ value: 3, version: 1 });
  });
});

describe('changeIdempotently: recovering a claim whose attempt died', () => {
  it("replays the counter when the dead attempt's write landed and is the counter's last, without asking the stream", async () => {
    // Prepare: the first attempt wrote, then died before storing its answer
    const { repository, store, run, sleep } = setup();
    repository.failAfterNextChange(new Error('function timed out'));
    await expect(run(increment(5))).rejects.toThrow('function timed out');
    await abandonTheLease(store);

    // Act
    const retry = await run(increment(5));

    // Assess
    expect(retry.replayed).toBe(true);
    expect(JSON.parse(retry.answer.body)).toMatchObject({ value: 5, version: 1 });
    expect(await counterNow(repository)).toMatchObject({ value: 5, version: 1 });
    expect(sleep).not.toHaveBeenCalled();
    expect(store.peek(ID)).toMatchObject({ status: 'done', answer: retry.answer });
  });

  it('replays exactly the counter right after the dead write when others wrote since, as the consumer saw it', async () => {
    // Prepare
    const { repository, store, run, otherWriter, deliver } = setup();
    repository.failAfterNextChange(new Error('connection reset'));
    await expect(run(increment(5))).rejects.toThrow('connection reset');
    await otherWriter(100);
    await otherWriter(1000);
    await deliver();
    await abandonTheLease(store);

    // Act
    const retry = await run(increment(5));

    // Assess
    expect(retry.replayed).toBe(true);
    expect(JSON.parse(retry.answer.body)).toMatchObject({ value: 5, version: 1 });
    expect(await counterNow(repository)).toMatchObject({ value: 1105, version: 3 });
  });

  it('replays a state at least as new as the dead write when the counter still carries its tag', async () => {
    // Prepare: the consumer has not run yet; plain writes since keep the item's tag
    const { repository, store, run, otherWriter, sleep } = setup();
    repository.failAfterNextChange(new Error('function timed out'));
    await expect(run(increment(5))).rejects.toThrow('function timed out');
    await otherWriter(100);
    await abandonTheLease(store);

    // Act
    const retry = await run(increment(5));

    // Assess
    expect(retry.replayed).toBe(true);
    expect(JSON.parse(retry.answer.body)).toMatchObject({ value: 105, version: 2 });
    expect(await counterNow(repository)).toMatchObject({ value: 105, version: 2 });
    expect(sleep).not.toHaveBeenCalled();
  });

  it('answers a retry at once after an ambiguous failure: the attempt ends its own lease', async () => {
    // Prepare
    const { repository, store, run } = setup();
    repository.failAfterNextChange(new Error('socket hang up'));
    await expect(run(increment(2))).rejects.toThrow('socket hang up');

    // Act
    const retry = await run(increment(2));

    // Assess
    expect(store.calls.abandon).toBe(1);
    expect(retry.replayed).toBe(true);
    expect(await counterNow(repository)).toMatchObject({ value: 2, version: 1 });
  });

  it('takes the record over and applies the change once when the dead attempt never wrote', async () => {
    // Prepare
    const { repository, store, run, otherWriter } = setup();
    await otherWriter(7);
    await abandonedClaim(store, increment(1));

    // Act
    const retry = await run(increment(1));

    // Assess
    expect(retry.replayed).toBe(false);
    expect(JSON.parse(retry.answer.body)).toMatchObject({ value: 8, version: 2 });
    expect(await counterNow(repository)).toMatchObject({ value: 8, version: 2 });
    expect(store.peek(ID)?.owner).not.toBe('gone');
    expect(await run(increment(1))).toEqual({ answer: retry.answer, replayed: true });
  });

  it('takes over when the dead attempt never wrote and the counter does not exist', async () => {
    // Prepare
    const { repository, store, run } = setup();
    await abandonedClaim(store, increment(4));

    // Act
    const retry = await run(increment(4));

    // Assess
    expect(retry.replayed).toBe(false);
    expect(await counterNow(repository)).toMatchObject({ value: 4, version: 1 });
  });

  it('fences a slow attempt that wakes after a retry took over: its write is refused and the change lands once', async () => {
    // Prepare: the first attempt stalls past its lease before writing; a retry recovers meanwhile
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const { repository, run } = setup();
    let retry: Awaited<ReturnType<typeof run>> | undefined;
    const increment_ = repository.increment.bind(repository);
    vi.spyOn(repository, 'increment').mockImplementationOnce(async (input) => {
      vi.setSystemTime(T0 + CLAIM_LEASE_MS + 1_000);
      retry = await run(increment(1));
      return increment_(input);
    });

    // Act
    const stalled = run(increment(1));

    // Assess
    await expect(stalled).rejects.toBeInstanceOf(RequestInFlightError);
    expect(retry?.replayed).toBe(false);
    expect(await counterNow(repository)).toMatchObject({ value: 1, version: 1 });
  });

  it('answers 409 and changes nothing while the consumer has not passed its probe', async () => {
    // Prepare
    const { repository, store, run, stallConsumer, deliver } = setup();
    await abandonedClaim(store, increment(1));
    stallConsumer();

    // Act
    const early = run(increment(1));

    // Assess
    await expect(early).rejects.toBeInstanceOf(RequestInFlightError);
    expect(await repository.get('visits')).toBeUndefined();
    // Once the consumer has caught up, a retry completes it, once.
    await deliver();
    const later = await run(increment(1));
    expect(later.replayed).toBe(false);
    expect(await counterNow(repository)).toMatchObject({ value: 1, version: 1 });
  });

  it('lets another retry that took the record over answer: this one is told to retry', async () => {
    // Prepare: the record changes hands while this retry waits for the consumer
    const { store, run, sleep } = setup();
    await abandonedClaim(store, increment(1));
    sleep.mockImplementationOnce(async () => {
      const record = store.peek(ID);
      await store.takeOver(
        ID,
        { attempt: 'gone', targets: record?.targets.length ?? 0 },
        { attempt: 'another-retry', targets: ['visits'] },
        Date.now(),
      );
    });

    // Act
    const retry = run(increment(1));

    // Assess
    await expect(retry).rejects.toBeInstanceOf(RequestInFlightError);
    expect(store.peek(ID)?.owner).toBe('another-retry');
  });

  it('never lets a fenced attempt write: the rule refuses it with AttemptFencedError', async () => {
    // Prepare
    const { repository } = setup();
    await repository.fence(['visits'], ID, 'fenced-attempt');

    // Act
    const write = repository.increment({
      name: 'visits',
      by: 1,
      actor: ACTOR,
      now: 'now',
      newIncarnation: 'i',
      attempt: { id: ID, attempt: 'fenced-attempt', reach: async () => undefined, answer: renderOutcome },
    });

    // Assess
    await expect(write).rejects.toBeInstanceOf(AttemptFencedError);
    expect(await repository.get('visits')).toBeUndefined();
  });
});

describe('changeIdempotently: changes that write their answer in their own transaction', () => {
  it('replays a keyed delete whose function died after the delete: the answer landed with it', async () => {
    // Prepare
    const { repository, store, run, otherWriter, sleep } = setup();
    await otherWriter(1);
    repository.failAfterNextChange(new Error('function timed out'));
    await expect(run(remove())).rejects.toThrow('function timed out');

    // Act
    const retry = await run(remove());

    // Assess
    expect(retry).toMatchObject({ replayed: true, answer: { statusCode: 204 } });
    expect(await repository.get('visits')).toBeUndefined();
    expect(sleep).not.toHaveBeenCalled();
    expect(store.peek(ID)).toMatchObject({ status: 'done' });
  });

  it('takes a keyed delete over without probing when the dead attempt never deleted', async () => {
    // Prepare
    const { repository, store, run, otherWriter } = setup();
    await otherWriter(1);
    await abandonedClaim(store, remove());
    const fence = vi.spyOn(repository, 'fence');

    // Act
    const retry = await run(remove());

    // Assess
    expect(retry).toMatchObject({ replayed: false, answer: { statusCode: 204 } });
    expect(fence).not.toHaveBeenCalled();
    expect(await repository.get('visits')).toBeUndefined();
  });

  it('creates a sharded counter with its answer in the same step, and replays it', async () => {
    // Prepare
    const { repository, run } = setup();

    // Act
    const first = await run(set(10, undefined, 4));
    const repeat = await run(set(10, undefined, 4));

    // Assess
    expect(JSON.parse(first.answer.body)).toMatchObject({ value: 10, version: 1, shards: 4 });
    expect(repeat).toEqual({ answer: first.answer, replayed: true });
    expect(await counterNow(repository)).toMatchObject({ value: 10, version: 1, shards: 4 });
  });
});

describe('changeIdempotently with a sharded counter', () => {
  it('refuses a keyed set of a sharded counter with 409 and replays the refusal, changing nothing', async () => {
    // Prepare
    const { repository, run } = setup();
    await run(set(10, undefined, 4), 'create');
    repository.takeStream();

    // Act
    const first = await run(set(3));
    const repeat = await run(set(3));

    // Assess
    expect(first.answer.statusCode).toBe(409);
    expect(repeat).toEqual({ answer: first.answer, replayed: true });
    expect(await counterNow(repository)).toMatchObject({ value: 10, version: 1, shards: 4 });
    expect(repository.takeStream()).toEqual([]);
  });

  it('answers a recovered increment of a sharded counter with the counter as read now, which holds it', async () => {
    // Prepare: the consumer saw the write, but a shard's item alone is not the counter
    const { repository, store, run, otherWriter, deliver } = setup();
    await run(set(10, undefined, 4), 'create');
    repository.failAfterNextChange(new Error('function timed out'));
    await expect(run(increment(5))).rejects.toThrow('function timed out');
    await deliver();
    await otherWriter(100);
    await abandonTheLease(store);

    // Act
    const retry = await run(increment(5));

    // Assess
    expect(store.peek(ID)?.answer).toEqual(retry.answer);
    expect(JSON.parse(retry.answer.body)).toMatchObject({ value: 115, version: 3 });
    expect(await counterNow(repository)).toMatchObject({ value: 115, version: 3 });
  });

  it('answers 204 (applied) when the counter is gone by the time a recovery reads it, not 404', async () => {
    // Prepare
    const { repository, store, run, deliver } = setup();
    await run(set(10, undefined, 4), 'create');
    repository.failAfterNextChange(new Error('function timed out'));
    await expect(run(increment(5))).rejects.toThrow('function timed out');
    await deliver();
    await repository.delete({ name: 'visits' });
    await abandonTheLease(store);

    // Act
    const retry = await run(increment(5));

    // Assess
    expect(retry).toMatchObject({
      replayed: true,
      answer: { statusCode: 204, headers: { applied: 'true' } },
    });
    expect(await repository.get('visits')).toBeUndefined();
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

  it('applies a keyed change under If-Match only at that version, refusing with 412 once it moved', async () => {
    // Prepare
    const { repository, run, otherWriter } = setup();
    await otherWriter(1);
    await otherWriter(1);

    // Act
    const stale = await run(increment(5, 1), 'stale-key');
    const current = await run(increment(5, 2), 'current-key');

    // Assess
    expect(stale.answer.statusCode).toBe(412);
    expect(JSON.parse(current.answer.body)).toMatchObject({ value: 7, version: 3 });
    expect(await counterNow(repository)).toMatchObject({ value: 7, version: 3 });
  });
});

describe('changeIdempotently: failures', () => {
  it('frees the key when the change certainly wrote nothing (throttled), so a retry runs it afresh', async () => {
    // Prepare
    const { repository, store, run } = setup();
    const throttled = Object.assign(new Error('Rate exceeded'), {
      name: 'ProvisionedThroughputExceededException',
    });
    repository.failNextChange(throttled);
    await expect(run(increment(1))).rejects.toBe(throttled);

    // Act
    const retry = await run(increment(1));

    // Assess
    expect(store.calls.release).toBe(1);
    expect(retry.replayed).toBe(false);
    expect(await counterNow(repository)).toMatchObject({ value: 1, version: 1 });
  });

  it('passes on the original failure when ending its lease fails too', async () => {
    // Prepare
    const { repository, store, run } = setup();
    repository.failNextChange(new Error('socket hang up'));
    store.failNext('abandon', new Error('also down'));

    // Act
    const attempt = run(increment(1));

    // Assess
    await expect(attempt).rejects.toThrow('socket hang up');
  });

  it('keeps the key in flight when storing a refusal fails; a retry recovers it and answers the refusal', async () => {
    // Prepare
    const { repository, store, run } = setup();
    await repository.set({
      name: 'visits',
      value: MAX_VALUE,
      actor: ACTOR,
      now: 'then',
      newIncarnation: 'i',
    });
    store.failNext('complete', new Error('throttled answer'));
    await expect(run(increment(9))).rejects.toThrow('throttled answer');
    await abandonTheLease(store);

    // Act
    const retry = await run(increment(9));

    // Assess
    expect(retry.answer.statusCode).toBe(409);
    expect(store.peek(ID)).toMatchObject({ status: 'done', answer: retry.answer });
    expect(await counterNow(repository)).toMatchObject({ value: MAX_VALUE, version: 1 });
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

/** Moves the record's lease into the past, as the passing of CLAIM_LEASE_MS would. */
async function abandonTheLease(store: InMemoryIdempotencyStore): Promise<void> {
  const record = store.peek(ID);
  if (record === undefined) throw new Error('no record to abandon');
  await store.abandon(ID, record.owner);
}
