import { AttemptFencedError, RequestInFlightError } from '../../functions/counter/errors.ts';
import {
  CLAIM_LEASE_MS,
  type Claim,
  IDEMPOTENCY_TTL_SECONDS,
  type IdempotencyRecord,
  type IdempotencyStore,
  type Outcome,
  type StoredAnswer,
} from '../../functions/counter/idempotency.ts';
import type { WitnessStore } from '../../functions/counter/keyed-witness.ts';
import type { KeyedAttempt } from '../../functions/counter/repository.ts';
import { storedCounter } from '../../functions/counter/schema.ts';
import type { InMemoryCounterRepository } from './in-memory-repository.ts';

/** A record as the idempotency table holds it: `expiresAt` is the TTL attribute, in epoch seconds. */
export type InMemoryIdempotencyRecord = IdempotencyRecord & { expiresAt: number };

type ClaimRequest = Parameters<IdempotencyStore['claim']>[0];

type StoreMethod = 'claim' | 'reach' | 'complete' | 'release' | 'abandon' | 'read' | 'takeOver';

/**
 * The idempotency table in memory, with DynamoIdempotencyStore's semantics (idempotency-table.ts):
 * every write but the claim holds only while its attempt holds the record. It also writes the answer
 * of the repository twin's sealed changes in the same step as the change, and takes the stream
 * consumer's witness (keyed-witness.ts).
 *
 * Faults a test can inject: `failNext` throws from a method before it does anything, and
 * `loseNextClaimAnswer` sends a claim's put twice, as the SDK does when the first answer is lost.
 */
export class InMemoryIdempotencyStore implements IdempotencyStore, WitnessStore {
  private readonly records = new Map<string, InMemoryIdempotencyRecord>();
  private readonly failures = new Map<StoreMethod, Error>();
  private claimAnswerLost = false;
  /** How many times each method was called, faults included. */
  readonly calls: Record<StoreMethod, number> = {
    claim: 0,
    reach: 0,
    complete: 0,
    release: 0,
    abandon: 0,
    read: 0,
    takeOver: 0,
  };

  constructor(
    counters: InMemoryCounterRepository,
    private readonly leaseMs: number = CLAIM_LEASE_MS,
  ) {
    counters.records = this;
  }

  async claim(claim: ClaimRequest, nowMs: number): Promise<Claim> {
    this.enter('claim');
    const result = this.put(claim, nowMs);
    if (!this.claimAnswerLost) return result;
    // The SDK did not hear that the put succeeded, and sends it again.
    this.claimAnswerLost = false;
    return this.put(claim, nowMs);
  }

  private put({ id, fingerprint, attempt, targets, minimal }: ClaimRequest, nowMs: number): Claim {
    const existing = this.records.get(id);
    if (existing === undefined || existing.expiresAt < Math.floor(nowMs / 1000)) {
      this.records.set(id, {
        fingerprint,
        minimal,
        status: 'in-flight',
        owner: attempt,
        leaseExpiresAt: nowMs + this.leaseMs,
        targets: [...new Set(targets)].sort(),
        probed: [],
        expiresAt: expiresAt(nowMs),
      });
      return { kind: 'claimed' };
    }
    const { expiresAt: _expiresAt, ...record } = structuredClone(existing);
    return { kind: 'existing', record };
  }

  async reach(id: string, attempt: string, items: string[]): Promise<void> {
    this.enter('reach');
    const record = this.held(id, attempt);
    if (record === undefined) throw new AttemptFencedError();
    record.targets = [...new Set([...record.targets, ...items])].sort();
  }

  async complete(id: string, owner: string, answer: StoredAnswer, nowMs: number): Promise<StoredAnswer> {
    this.enter('complete');
    const record = this.records.get(id);
    if (record !== undefined && record.owner === owner && record.status !== 'done') {
      this.finish(id, record, answer, nowMs);
      return structuredClone(answer);
    }
    if (record?.status === 'done' && record.answer !== undefined) return structuredClone(record.answer);
    throw new RequestInFlightError();
  }

  async release(id: string, attempt: string): Promise<void> {
    this.enter('release');
    if (this.held(id, attempt) !== undefined) this.records.delete(id);
  }

  async abandon(id: string, attempt: string): Promise<void> {
    this.enter('abandon');
    const record = this.held(id, attempt);
    if (record !== undefined) record.leaseExpiresAt = 0;
  }

  async read(id: string): Promise<IdempotencyRecord | undefined> {
    this.enter('read');
    const record = this.records.get(id);
    if (record === undefined) return undefined;
    const { expiresAt: _expiresAt, ...rest } = structuredClone(record);
    return rest;
  }

  async takeOver(
    id: string,
    from: { attempt: string; targets: number },
    to: { attempt: string; targets: string[] },
    nowMs: number,
  ): Promise<boolean> {
    this.enter('takeOver');
    const record = this.held(id, from.attempt);
    if (record === undefined || record.targets.length !== from.targets) return false;
    this.records.set(id, {
      ...record,
      owner: to.attempt,
      leaseExpiresAt: nowMs + this.leaseMs,
      targets: [...new Set(to.targets)].sort(),
      probed: [],
    });
    return true;
  }

  async witnessed(id: string, attempt: string, counter: Record<string, unknown> | undefined): Promise<void> {
    const record = this.held(id, attempt);
    if (record === undefined) return;
    record.status = 'applied';
    if (counter !== undefined) record.counter = storedCounter.parse(counter);
  }

  async probed(id: string, attempt: string, item: string): Promise<void> {
    const record = this.held(id, attempt);
    if (record !== undefined) record.probed = [...new Set([...record.probed, item])].sort();
  }

  /**
   * The repository twin's sealed change (a delete, a sharded creation): checked now, written by the
   * returned function in the same step as the change.
   */
  sealed(attempt: KeyedAttempt, outcome: Outcome): () => void {
    const record = this.held(attempt.id, attempt.attempt);
    if (record === undefined) throw new AttemptFencedError();
    const answer = attempt.answer(outcome);
    return () => this.finish(attempt.id, record, answer, Date.now());
  }

  /** The record as stored, or undefined; a copy. */
  peek(id: string): InMemoryIdempotencyRecord | undefined {
    const record = this.records.get(id);
    return record === undefined ? undefined : structuredClone(record);
  }

  /** Every record, for assertions over a whole run. */
  all(): InMemoryIdempotencyRecord[] {
    return [...this.records.values()].map((record) => structuredClone(record));
  }

  /** Makes the next call of `method` throw `error` before it reads or writes anything. */
  failNext(method: StoreMethod, error: Error): void {
    this.failures.set(method, error);
  }

  /** Makes the next claim write its record, then lose the answer and send the same put again. */
  loseNextClaimAnswer(): void {
    this.claimAnswerLost = true;
  }

  private enter(method: StoreMethod): void {
    this.calls[method]++;
    const failure = this.failures.get(method);
    if (failure === undefined) return;
    this.failures.delete(method);
    throw failure;
  }

  /** The record, if `attempt` holds it in flight. */
  private held(id: string, attempt: string): InMemoryIdempotencyRecord | undefined {
    const record = this.records.get(id);
    return record !== undefined && record.owner === attempt && record.status === 'in-flight'
      ? record
      : undefined;
  }

  private finish(id: string, record: InMemoryIdempotencyRecord, answer: StoredAnswer, nowMs: number): void {
    const { counter: _counter, ...rest } = record;
    this.records.set(id, {
      ...rest,
      status: 'done',
      answer: structuredClone(answer),
      expiresAt: expiresAt(nowMs),
    });
  }
}

function expiresAt(nowMs: number): number {
  return Math.floor(nowMs / 1000) + IDEMPOTENCY_TTL_SECONDS;
}
