import { createHash } from 'node:crypto';
import { backoffMs } from '../platform/retry.ts';
import {
  AttemptFencedError,
  CounterRefusal,
  IdempotencyKeyReusedError,
  RequestInFlightError,
} from './errors.ts';
import type { CounterRepository, KeyedAttempt } from './repository.ts';
import { type Counter, type StoredCounter, toCounter } from './schema.ts';

/** Replays are kept at least 24 hours (docs/api.md, safe retries); TTL removes them an hour later. */
export const IDEMPOTENCY_TTL_SECONDS = 25 * 60 * 60;
/**
 * How long a claim holds off a retry before the retry recovers it: longer than a function's timeout,
 * so the attempt it recovers has stopped (the fence makes that a matter of speed, not of safety).
 */
export const CLAIM_LEASE_MS = 15_000;
/** How long a recovery waits for the stream consumer to pass its probes before answering 409. */
export const RECOVERY_WAIT_MS = 3_000;

export type ChangeCommand =
  | { op: 'increment'; name: string; by: number; actor: string; expectedVersion?: number | undefined }
  | {
      op: 'set';
      name: string;
      value: number;
      shards?: number | undefined;
      /** A number sets the bound, null removes it, undefined keeps it. */
      min?: number | null | undefined;
      max?: number | null | undefined;
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
  /** Applied, and the counter not read after it (a sharded counter's increment; docs/sharding.md). */
  | { kind: 'applied' }
  | { kind: 'deleted' }
  | { kind: 'refused'; error: Error };

export interface IdempotencyRecord {
  fingerprint: string;
  /** The request asked for no body (Prefer: return=minimal): its answer is rendered so, replays too. */
  minimal: boolean;
  /**
   * 'applied': the stream consumer saw the owner's write land while the record was still in flight
   * (the owner died, or has not stored its answer yet); the answer is made from `counter` or a read.
   */
  status: 'in-flight' | 'applied' | 'done';
  /** The attempt that holds the record. */
  owner: string;
  leaseExpiresAt: number;
  /** The counters-table items the owner may write: where a recovery probes. */
  targets: string[];
  /** The targets whose probe (for this owner) the consumer has passed without having seen its write. */
  probed: string[];
  /** With 'applied': the counter right after the write, when that item alone holds it (a plain counter). */
  counter?: StoredCounter | undefined;
  answer?: StoredAnswer | undefined;
}

export type Claim = { kind: 'claimed' } | { kind: 'existing'; record: IdempotencyRecord };

/** The idempotency table. Every write but the claim is conditioned on who holds the record. */
export interface IdempotencyStore {
  /** Creates the in-flight record unless a live one exists (a TTL-expired one is replaced). */
  claim(
    claim: { id: string; fingerprint: string; attempt: string; targets: string[]; minimal: boolean },
    nowMs: number,
  ): Promise<Claim>;
  /** Adds to the record's targets; AttemptFencedError if the record is no longer the attempt's. */
  reach(id: string, attempt: string, items: string[]): Promise<void>;
  /**
   * Stores the answer of the record held by `owner` (in flight, or applied), and returns the answer
   * that stands: this one, or the one stored first. RequestInFlightError if another attempt holds it.
   */
  complete(id: string, owner: string, answer: StoredAnswer, nowMs: number): Promise<StoredAnswer>;
  /** Drops the attempt's claim after a failure that certainly changed nothing: the key is free again. */
  release(id: string, attempt: string): Promise<void>;
  /** Ends the attempt's lease after a failure that may have changed something: a retry recovers at once. */
  abandon(id: string, attempt: string): Promise<void>;
  /** The record as it is (a consistent read). */
  read(id: string): Promise<IdempotencyRecord | undefined>;
  /**
   * Hands the record from `from` to `to`, if `from` still holds it in flight with exactly
   * `fromTargets` targets (so no write it reached since was left unprobed).
   */
  takeOver(
    id: string,
    from: { attempt: string; targets: number },
    to: { attempt: string; targets: string[] },
    nowMs: number,
  ): Promise<boolean>;
}

export interface IdempotentDeps {
  store: IdempotencyStore;
  repository: Pick<CounterRepository, 'get' | 'itemsOf' | 'fence'>;
  newId: () => string;
  /** Whether a failed change certainly wrote nothing (throttled, say): then the key is free at once. */
  notApplied: (error: unknown) => boolean;
  sleep?: (ms: number) => Promise<void>;
  recoveryWaitMs?: number;
}

export interface KeyedRequest {
  /** idempotencyId(principal, key) */
  id: string;
  command: ChangeCommand;
  /** The caller wants no body (Prefer: return=minimal): the answer, and its replays, are rendered so. */
  minimal?: boolean | undefined;
}

/** Renders an outcome as the answer to keep; `minimal` as the first request asked. */
export type Render = (outcome: Outcome, minimal: boolean) => StoredAnswer;

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
    // Only when given, so a key's fingerprint did not change when shards, then bounds, came in.
    ...(command.op === 'set' && command.shards !== undefined ? [command.shards] : []),
    ...(command.op === 'set' && (command.min !== undefined || command.max !== undefined)
      ? [
          {
            min: command.min === undefined ? 'kept' : command.min,
            max: command.max === undefined ? 'kept' : command.max,
          },
        ]
      : []),
  ];
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
}

/**
 * Runs a change at most once per key, with no read before it and nothing to race: the change is the
 * very write an unkeyed request makes (`apply`: an atomic ADD for an increment), tagged with this
 * attempt. (docs/reliability.md walks through every point a function can die at.)
 *
 * 1. Claim the key: a conditional put. The same request again gets the first answer; another request
 *    422; a repeat while the first holds its lease 409.
 * 2. Apply the change through the repository, tagged with the attempt, and fenced (refused if a
 *    recovery has fenced the attempt off).
 * 3. Keep the answer. A plain counter's increment or set answers the counter its own write made
 *    (ALL_NEW), which the table's stream carries: the stream consumer records it in the record
 *    (keyed-witness.ts), and replays are rendered from it, so the function writes nothing more. Any other
 *    answer is stored by the function: a refusal, or a sharded counter's increment (answered from a
 *    read after it). A delete's or a sharded counter's creation's answer is known before it is made:
 *    it is written in the change's own transaction.
 *
 * A retry that finds the claim's lease over recovers it: it fences the attempt off every item it may
 * have written, with a probe in each item's stream; the stream consumer, which meets the attempt's
 * write (if it landed) before the probe, marks the record applied, or else records that it passed the
 * probe. Applied: the answer is made from what the consumer saw. Passed on every item: the attempt
 * never wrote and never will, and the retry takes the record over and runs the change itself.
 */
export async function changeIdempotently(
  deps: IdempotentDeps,
  request: KeyedRequest,
  apply: (attempt: KeyedAttempt) => Promise<Outcome>,
  render: Render,
): Promise<{ answer: StoredAnswer; replayed: boolean }> {
  const fingerprint = fingerprintOf(request.command);
  const minimal = request.minimal === true;
  const attempt = deps.newId();
  const targets = deps.repository.itemsOf(request.command.name);
  const claim = await deps.store.claim(
    { id: request.id, fingerprint, attempt, targets, minimal },
    Date.now(),
  );
  // Our own record comes back as "existing" when the SDK sent the put again after losing its answer.
  if (claim.kind === 'existing' && claim.record.owner !== attempt) {
    const record = claim.record;
    if (record.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError();
    const standing = await standingAnswer(deps, request, record, render);
    if (standing !== undefined) return { answer: standing, replayed: true };
    const recovered =
      record.leaseExpiresAt > Date.now()
        ? await awaitWitness(deps, request, record, render)
        : await recover(deps, request, record, attempt, render);
    if (!('takenOver' in recovered)) return { answer: recovered, replayed: true };
    return {
      answer: await run(deps, request, attempt, recovered.takenOver, apply, render),
      replayed: false,
    };
  }
  return { answer: await run(deps, request, attempt, targets, apply, render), replayed: false };
}

async function run(
  deps: IdempotentDeps,
  request: KeyedRequest,
  attempt: string,
  claimed: string[],
  apply: (attempt: KeyedAttempt) => Promise<Outcome>,
  render: Render,
): Promise<StoredAnswer> {
  const minimal = request.minimal === true;
  const reached = new Set(claimed);
  const keyed: KeyedAttempt = {
    id: request.id,
    attempt,
    reach: async (items) => {
      const fresh = items.filter((item) => !reached.has(item));
      if (fresh.length === 0) return;
      await deps.store.reach(request.id, attempt, fresh);
      for (const item of fresh) reached.add(item);
    },
    answer: (outcome) => render(outcome, minimal),
  };
  let outcome: Outcome;
  try {
    outcome = await apply(keyed);
  } catch (error) {
    if (error instanceof AttemptFencedError) throw new RequestInFlightError();
    if (!(error instanceof CounterRefusal)) {
      // Certainly not written: the key is free again. Perhaps written: a retry recovers it at once.
      const end = deps.notApplied(error) ? deps.store.release : deps.store.abandon;
      await end.call(deps.store, request.id, attempt).catch(() => undefined);
      throw error;
    }
    outcome = { kind: 'refused', error };
  }
  const answer = render(outcome, minimal);
  // The stream consumer records this answer's counter from the write itself.
  if (witnessed(request.command, outcome)) return answer;
  return deps.store.complete(request.id, attempt, answer, Date.now());
}

/**
 * Whether the answer is the counter the write made, which the stream carries to the record: a plain
 * counter's increment or set (a sharded counter's write is one shard of it).
 */
function witnessed(command: ChangeCommand, outcome: Outcome): boolean {
  return outcome.kind === 'counter' && outcome.counter.shards === undefined && !sealed(command);
}

/** The answer a record stands for, if it has one: stored, or made now from an applied write. */
async function standingAnswer(
  deps: IdempotentDeps,
  request: KeyedRequest,
  record: IdempotencyRecord,
  render: Render,
): Promise<StoredAnswer | undefined> {
  if (record.status === 'done' && record.answer !== undefined) return record.answer;
  if (record.status !== 'applied') return undefined;
  // The counter the write made, as the consumer saw it: every replay renders the same answer from it.
  if (record.counter !== undefined)
    return render({ kind: 'counter', counter: toCounter(record.counter) }, record.minimal);
  // Applied, and no counter to answer with (a shard's write): the counter now holds the change; that
  // answer is stored, so later replays repeat it.
  const now = record.minimal ? undefined : await deps.repository.get(request.command.name);
  const outcome: Outcome =
    request.command.op === 'delete'
      ? { kind: 'deleted' }
      : now === undefined
        ? { kind: 'applied' }
        : { kind: 'counter', counter: toCounter(now) };
  return deps.store.complete(request.id, record.owner, render(outcome, record.minimal), Date.now());
}

/**
 * A repeat while the first attempt holds its lease: if the attempt's write is on the counter, it
 * landed, and the consumer is about to record it; wait for that (not for a running attempt). 409 else.
 */
async function awaitWitness(
  deps: IdempotentDeps,
  request: KeyedRequest,
  record: IdempotencyRecord,
  render: Render,
): Promise<StoredAnswer> {
  if (sealed(request.command)) throw new RequestInFlightError();
  const current = await deps.repository.get(request.command.name);
  if (current?.tag_attempt !== record.owner) throw new RequestInFlightError();
  const answer = await pollRecord(deps, request, record, render, () => false);
  if (answer === 'probed') throw new RequestInFlightError();
  return answer;
}

/**
 * A claim whose lease is over: find out whether its attempt's change landed, and answer it, or take the
 * record over to run the change. Never guesses: when the consumer has not answered in time, 409.
 */
async function recover(
  deps: IdempotentDeps,
  request: KeyedRequest,
  record: IdempotencyRecord,
  attempt: string,
  render: Render,
): Promise<StoredAnswer | { takenOver: string[] }> {
  const fenced = record.owner;
  let latest = record;
  // A delete's or a sharded creation's answer is written in its own transaction: in flight, it never landed.
  if (!sealed(request.command)) {
    // Its write is on the counter's item, so the counter holds the change: answered as it is now.
    const current = await deps.repository.get(request.command.name);
    if (current !== undefined && current.tag_attempt === fenced) {
      const answer = render({ kind: 'counter', counter: toCounter(current) }, record.minimal);
      return deps.store.complete(request.id, fenced, answer, Date.now());
    }
    const fencedItems = new Set<string>();
    const fence = async (now: IdempotencyRecord) => {
      const unfenced = now.targets.filter((item) => !fencedItems.has(item));
      if (unfenced.length > 0) {
        await deps.repository.fence(unfenced, request.id, fenced);
        for (const item of unfenced) fencedItems.add(item);
      }
      latest = now;
      // Every item fenced and its probe passed: the attempt never wrote, and never will.
      return now.targets.every((item) => fencedItems.has(item) && now.probed.includes(item));
    };
    await fence(record);
    const answer = await pollRecord(deps, request, record, render, fence);
    if (answer !== 'probed') return answer;
  }
  const targets = deps.repository.itemsOf(request.command.name);
  const taken = await deps.store.takeOver(
    request.id,
    { attempt: fenced, targets: latest.targets.length },
    { attempt, targets },
    Date.now(),
  );
  if (!taken) throw new RequestInFlightError();
  return { takenOver: targets };
}

/**
 * Reads the record until the consumer has recorded the attempt's write (the answer), or `passed`
 * says it never wrote ('probed'), for RECOVERY_WAIT_MS at most; 409 when it is not decided by then,
 * or when another attempt holds the record now.
 */
async function pollRecord(
  deps: IdempotentDeps,
  request: KeyedRequest,
  record: IdempotencyRecord,
  render: Render,
  passed: (now: IdempotencyRecord) => boolean | Promise<boolean>,
): Promise<StoredAnswer | 'probed'> {
  const sleep = deps.sleep ?? delay;
  const deadline = Date.now() + (deps.recoveryWaitMs ?? RECOVERY_WAIT_MS);
  for (let poll = 0; ; poll++) {
    // 50 ms doubling up to 400: the consumer usually records the write within the first few polls.
    const pause = backoffMs(poll, { baseMs: 50, capMs: 400, jitter: 'none' });
    if (Date.now() + pause > deadline) throw new RequestInFlightError();
    await sleep(pause);
    const now = await deps.store.read(request.id);
    // Released (it changed nothing) or taken over by another retry: that one answers; ask again.
    if (now === undefined || now.owner !== record.owner) throw new RequestInFlightError();
    const standing = await standingAnswer(deps, request, now, render);
    if (standing !== undefined) return standing;
    if (await passed(now)) return 'probed';
  }
}

/** Changes whose answer is written in their own transaction (KeyedAttempt.answer). */
function sealed(command: ChangeCommand): boolean {
  return command.op === 'delete' || (command.op === 'set' && (command.shards ?? 1) > 1);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
