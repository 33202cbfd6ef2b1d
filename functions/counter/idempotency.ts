import { createHash } from 'node:crypto';
import {
  CounterNotFoundError,
  CounterOutOfRangeError,
  describeIncrement,
  ShardLayoutError,
  shardBound,
  VersionMismatchError,
} from './errors.ts';
import type { ChangeInput } from './repository.ts';
import { type Counter, MAX_VALUE, MIN_VALUE, type StoredCounter, toCounter } from './schema.ts';

/** Replays are kept at least 24 hours (CONTRACT.md section 4); TTL removes them an hour later. */
export const IDEMPOTENCY_TTL_SECONDS = 25 * 60 * 60;
/** How long a claim holds off a racing duplicate; longer than a handler's timeout. */
export const CLAIM_LEASE_MS = 15_000;
const MAX_COMMIT_ATTEMPTS = 25;

export type ChangeCommand =
  | { op: 'increment'; name: string; by: number; actor: string; expectedVersion?: number | undefined }
  | {
      op: 'set';
      name: string;
      value: number;
      shards?: number | undefined;
      actor: string;
      expectedVersion?: number | undefined;
    }
  | { op: 'delete'; name: string; actor: string; expectedVersion?: number | undefined };

/** What the first attempt answered, kept to be answered again. Opaque to the domain. */
export interface StoredAnswer {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export type Outcome =
  | { kind: 'counter'; counter: Counter }
  /** Committed, and the counter not read after: a sharded counter's increment with `readBack` false. */
  | { kind: 'applied' }
  | { kind: 'deleted' }
  | { kind: 'refused'; error: Error };

export interface IdempotencyRecord {
  fingerprint: string;
  /**
   * 'applied': the change is committed but its answer is not stored yet. Only increments of a
   * sharded counter pass through it, since their answer is a read made after the commit.
   */
  status: 'in-flight' | 'applied' | 'done';
  owner: string;
  leaseExpiresAt: number;
  answer?: StoredAnswer | undefined;
}

/** A change planned against the state it was planned from; committed only if that state still holds. */
export type PlannedChange =
  | { kind: 'increment'; input: ChangeInput & { by: number }; seen: Seen | undefined }
  | {
      kind: 'set';
      input: ChangeInput & { value: number; shards?: number | undefined };
      seen: Seen | undefined;
    }
  | { kind: 'delete'; name: string; seen: Seen; expectedVersion?: number | undefined };

/**
 * The state a change was planned from: the version alone is not enough, since a counter deleted and
 * created again can be back at the same version with another value.
 */
export interface Seen {
  version: number;
  incarnation: string;
  /**
   * A sharded counter's shard versions. An increment then goes to one shard, conditioned on the
   * incarnation only (or, with If-Match, on every shard's version).
   */
  shardVersions?: number[] | undefined;
}

export type Claim = { kind: 'claimed' } | { kind: 'existing'; record: IdempotencyRecord };

/**
 * Storage for keyed changes. `commit` writes the counter change and the record's answer in one
 * transaction, so no crash can leave a change without the answer that replays it.
 */
export interface IdempotencyStore {
  /** Creates the in-flight record unless a live one exists (an expired one is taken over). */
  claim(id: string, fingerprint: string, owner: string, nowMs: number): Promise<Claim>;
  /**
   * 'stale' when the counter is no longer as `seen`; 'lost' when the claim is no longer ours;
   * 'out-of-range' when a sharded counter's shard, as seen, cannot take the increment. Without
   * an answer, the record becomes 'applied', to be settled with the answer read after the commit.
   */
  commit(
    id: string,
    owner: string,
    change: PlannedChange,
    answer: StoredAnswer | undefined,
    nowMs: number,
  ): Promise<'committed' | 'stale' | 'lost' | 'out-of-range'>;
  /**
   * Stores the answer of an 'applied' record and returns the answer that stands: this one, or the
   * one another attempt stored first.
   */
  settle(id: string, answer: StoredAnswer, nowMs: number): Promise<StoredAnswer>;
  /**
   * Records an answer that changed nothing (a refusal such as 409 or 412); throws
   * RequestInFlightError if the claim is no longer ours (another attempt's answer stands).
   */
  complete(id: string, owner: string, answer: StoredAnswer, nowMs: number): Promise<void>;
  /** Drops our claim after a failure, so a retry can run the request afresh. */
  release(id: string, owner: string): Promise<void>;
}

export interface IdempotentDeps {
  store: IdempotencyStore;
  read: (name: string) => Promise<StoredCounter | undefined>;
  now: () => string;
  newId: () => string;
  sleep?: (ms: number) => Promise<void>;
}

export class IdempotencyKeyReusedError extends Error {
  constructor() {
    super('This Idempotency-Key was already used for a different request; use a new key for a new request.');
    this.name = 'IdempotencyKeyReusedError';
  }
}

export class RequestInFlightError extends Error {
  constructor() {
    super('A request with this Idempotency-Key is still in flight; retry it shortly with the same key.');
    this.name = 'RequestInFlightError';
  }
}

export class ContendedCounterError extends Error {
  constructor(name: string) {
    super(`Counter "${name}" changed on every attempt to apply this keyed change; retry with the same key.`);
    this.name = 'ContendedCounterError';
  }
}

/** The record's id: the key is the caller's own, so two principals never share one. */
export function idempotencyId(actor: string, key: string): string {
  return createHash('sha256').update(`${actor}\n${key}`).digest('hex');
}

/** What makes two requests "the same request": the operation, the counter and the parsed arguments. */
export function fingerprintOf(command: ChangeCommand): string {
  // A fixed list, not the object: its field order must not decide whether two requests are the same.
  const fields = [
    command.op,
    command.name,
    command.op === 'increment' ? command.by : null,
    command.op === 'set' ? command.value : null,
    command.expectedVersion ?? null,
    // Only when given, so a key's fingerprint did not change when shards came in.
    ...(command.op === 'set' && command.shards !== undefined ? [command.shards] : []),
  ];
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
}

/**
 * Runs a change at most once per key. A repeat with the same request answers the first answer again; a
 * repeat with another request is refused; a repeat while the first is in flight is told to retry. The
 * change commits together with its answer, conditioned on the counter version it was planned from, so
 * it is exact under concurrency: a commit that finds the counter moved plans again from the new state.
 */
export async function changeIdempotently(
  deps: IdempotentDeps,
  request: { id: string; command: ChangeCommand; readBack?: boolean | undefined },
  render: (outcome: Outcome) => StoredAnswer,
): Promise<{ answer: StoredAnswer; replayed: boolean }> {
  const fingerprint = fingerprintOf(request.command);
  const owner = deps.newId();
  const claim = await deps.store.claim(request.id, fingerprint, owner, Date.now());
  // The claim's own record comes back as "existing" when the SDK retried a put whose answer was lost.
  if (claim.kind === 'existing' && claim.record.owner !== owner) {
    if (claim.record.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError();
    if (claim.record.status === 'done' && claim.record.answer !== undefined) {
      return { answer: claim.record.answer, replayed: true };
    }
    // Committed by an attempt that did not live to store its answer: the answer is read now.
    if (claim.record.status === 'applied') {
      return { answer: await settleApplied(deps, request, render), replayed: true };
    }
    throw new RequestInFlightError();
  }
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  try {
    for (let attempt = 1; attempt <= MAX_COMMIT_ATTEMPTS; attempt++) {
      const current = await deps.read(request.command.name);
      const plan = planChange(request.command, current, deps.now(), deps.newId());
      if (plan.kind === 'refused') {
        const answer = render({ kind: 'refused', error: plan.error });
        await deps.store.complete(request.id, owner, answer, Date.now());
        return { answer, replayed: false };
      }
      const answer = plan.outcome === 'read-after-commit' ? undefined : render(plan.outcome);
      const result = await deps.store.commit(request.id, owner, plan.change, answer, Date.now());
      if (result === 'committed') {
        return { answer: answer ?? (await settleApplied(deps, request, render)), replayed: false };
      }
      if (result === 'lost') throw new RequestInFlightError();
      if (result === 'out-of-range') {
        // The shard it went to holds its share of the range: refused, as without a key.
        const refusal = render({ kind: 'refused', error: shardRangeError(request.command, current) });
        await deps.store.complete(request.id, owner, refusal, Date.now());
        return { answer: refusal, replayed: false };
      }
      // Another change got in first: plan again from the new state, after a jittered pause.
      if (attempt < MAX_COMMIT_ATTEMPTS) await sleep(Math.random() * Math.min(200, 5 * 2 ** attempt));
    }
    throw new ContendedCounterError(request.command.name);
  } catch (error) {
    if (!(error instanceof RequestInFlightError))
      await deps.store.release(request.id, owner).catch(() => undefined);
    throw error;
  }
}

function shardRangeError(command: ChangeCommand, current: StoredCounter | undefined): Error {
  const by = command.op === 'increment' ? command.by : 0;
  return new CounterOutOfRangeError(
    command.name,
    current?.value ?? 0,
    describeIncrement(by),
    current?.shards,
  );
}

/** The answer of a committed change whose record is 'applied': the counter as read now, which holds it. */
async function settleApplied(
  deps: IdempotentDeps,
  request: { id: string; command: ChangeCommand; readBack?: boolean | undefined },
  render: (outcome: Outcome) => StoredAnswer,
): Promise<StoredAnswer> {
  const counter = request.readBack === false ? undefined : await deps.read(request.command.name);
  // Deleted since the commit, or not read at all: the change is applied all the same, and says so
  // (204), as the direct path does.
  const answer = render(
    counter === undefined ? { kind: 'applied' } : { kind: 'counter', counter: toCounter(counter) },
  );
  return deps.store.settle(request.id, answer, Date.now());
}

/**
 * `read-after-commit`: the answer is the counter read after the commit (an increment of a sharded
 * counter without If-Match, which no other shard's changes hold up).
 */
type Plan =
  | { kind: 'change'; change: PlannedChange; outcome: Outcome | 'read-after-commit' }
  | { kind: 'refused'; error: Error };

/** The change a command makes to the counter as it is now, and what it will answer. Pure. */
export function planChange(
  command: ChangeCommand,
  current: StoredCounter | undefined,
  now: string,
  newId: string,
): Plan {
  if (command.expectedVersion !== undefined && (current?.version ?? 0) !== command.expectedVersion) {
    return {
      kind: 'refused',
      error: new VersionMismatchError(command.name, command.expectedVersion, current?.version),
    };
  }
  if (command.op === 'delete') {
    if (current === undefined) return { kind: 'refused', error: new CounterNotFoundError(command.name) };
    return {
      kind: 'change',
      change: {
        kind: 'delete',
        name: command.name,
        seen: seenOf(current),
        expectedVersion: command.expectedVersion,
      },
      outcome: { kind: 'deleted' },
    };
  }
  const shards = current?.shards ?? (command.op === 'set' ? command.shards : undefined);
  if (command.op === 'set' && current?.shards !== undefined) {
    return { kind: 'refused', error: ShardLayoutError.setOfSharded(command.name, current.shards) };
  }
  if (command.op === 'set' && command.shards !== undefined && command.shards > 1 && current !== undefined) {
    return { kind: 'refused', error: ShardLayoutError.exists(command.name, current.shards) };
  }
  const value = command.op === 'increment' ? (current?.value ?? 0) + command.by : command.value;
  const creatingSharded = command.op === 'set' && shards !== undefined && shards > 1;
  if (value > MAX_VALUE || value < MIN_VALUE || (creatingSharded && Math.abs(value) > shardBound(shards))) {
    const attempted = command.op === 'set' ? `setting ${command.value}` : describeIncrement(command.by);
    return {
      kind: 'refused',
      error: new CounterOutOfRangeError(
        command.name,
        current?.value ?? 0,
        attempted,
        creatingSharded ? shards : undefined,
      ),
    };
  }
  const input: ChangeInput = {
    name: command.name,
    actor: command.actor,
    now,
    newIncarnation: newId,
    expectedVersion: command.expectedVersion,
  };
  const next: StoredCounter = {
    name: command.name,
    value,
    version: (current?.version ?? 0) + 1,
    created_at: current?.created_at ?? now,
    updated_at: now,
    incarnation: current?.incarnation ?? newId,
    op: command.op,
    actor: command.actor,
    ...(shards !== undefined && shards > 1 ? { shards } : {}),
  };
  const change: PlannedChange =
    command.op === 'increment'
      ? { kind: 'increment', input: { ...input, by: command.by }, seen: current && seenOf(current) }
      : {
          kind: 'set',
          input: { ...input, value: command.value, ...(creatingSharded ? { shards } : {}) },
          seen: current && seenOf(current),
        };
  // An increment of a sharded counter is not held up by the other shards' changes, so what the
  // counter is after it is known only by reading it after. With If-Match it is exact, as here.
  const readAfter = current?.shards !== undefined && command.expectedVersion === undefined;
  return {
    kind: 'change',
    change,
    outcome: readAfter ? 'read-after-commit' : { kind: 'counter', counter: toCounter(next) },
  };
}

function seenOf(counter: StoredCounter): Seen {
  return {
    version: counter.version,
    incarnation: counter.incarnation,
    ...(counter.shardVersions === undefined ? {} : { shardVersions: counter.shardVersions }),
  };
}
