import {
  CLAIM_LEASE_MS,
  type Claim,
  IDEMPOTENCY_TTL_SECONDS,
  type IdempotencyRecord,
  type IdempotencyStore,
  type PlannedChange,
  RequestInFlightError,
  type StoredAnswer,
} from '../../functions/counter/idempotency.ts';
import type { InMemoryCounterRepository } from './in-memory-repository.ts';

/** A record as the idempotency table holds it: `expiresAt` is the TTL attribute, in epoch seconds. */
export type InMemoryIdempotencyRecord = IdempotencyRecord & { expiresAt: number };

type StoreMethod = 'claim' | 'commit' | 'complete' | 'release';

/**
 * The idempotency table in memory, with DynamoIdempotencyStore's semantics, committing keyed changes
 * to an InMemoryCounterRepository: a claim takes over an absent, TTL-expired or lease-expired record
 * and otherwise returns the record it found; a commit checks our ownership of the in-flight record
 * ('lost') and then the counter's version ('stale') and writes both or neither; `complete` and
 * `release` do nothing unless we own the in-flight record.
 *
 * Faults a test can inject: `beforeCommit` runs between a plan and its commit (another writer slipping
 * in), `failNext` throws from a method before it does anything, `failAfterNextCommit` throws after a
 * commit wrote (a Lambda that died, or lost the connection, before hearing back), and
 * `loseNextClaimAnswer` sends a claim's put twice, as the SDK does when the first answer is lost.
 */
export class InMemoryIdempotencyStore implements IdempotencyStore {
  private readonly records = new Map<string, InMemoryIdempotencyRecord>();
  private readonly failures = new Map<StoreMethod, Error>();
  private afterCommitFailure: Error | undefined;
  private claimAnswerLost = false;
  /** Runs before each commit's checks; a test sets and clears it. */
  beforeCommit: (() => Promise<void>) | undefined;
  /** How many times each method was called, faults included. */
  readonly calls: Record<StoreMethod, number> = { claim: 0, commit: 0, complete: 0, release: 0 };

  constructor(
    private readonly counters: InMemoryCounterRepository,
    private readonly leaseMs: number = CLAIM_LEASE_MS,
  ) {}

  async claim(id: string, fingerprint: string, owner: string, nowMs: number): Promise<Claim> {
    this.calls.claim++;
    this.throwIfFailing('claim');
    const claim = this.put(id, fingerprint, owner, nowMs);
    if (!this.claimAnswerLost) return claim;
    // The SDK did not hear that the put succeeded, and sends it again.
    this.claimAnswerLost = false;
    return this.put(id, fingerprint, owner, nowMs);
  }

  private put(id: string, fingerprint: string, owner: string, nowMs: number): Claim {
    const existing = this.records.get(id);
    const nowSeconds = Math.floor(nowMs / 1000);
    if (
      existing === undefined ||
      existing.expiresAt < nowSeconds ||
      (existing.status === 'in-flight' && existing.leaseExpiresAt < nowMs)
    ) {
      this.records.set(id, {
        fingerprint,
        status: 'in-flight',
        owner,
        leaseExpiresAt: nowMs + this.leaseMs,
        expiresAt: expiresAt(nowMs),
      });
      return { kind: 'claimed' };
    }
    const { expiresAt: _expiresAt, ...record } = structuredClone(existing);
    return { kind: 'existing', record };
  }

  async commit(
    id: string,
    owner: string,
    change: PlannedChange,
    answer: StoredAnswer | undefined,
    nowMs: number,
  ): Promise<'committed' | 'stale' | 'lost'> {
    this.calls.commit++;
    this.throwIfFailing('commit');
    await this.beforeCommit?.();
    // From here on nothing awaits: the checks and both writes are one atomic step, as in the transaction.
    const record = this.records.get(id);
    if (record === undefined || !owns(record, owner)) return 'lost';
    if (!this.counters.applyPlanned(change)) return 'stale';
    if (answer === undefined) this.records.set(id, { ...record, status: 'applied' });
    else this.finish(id, record, answer, nowMs);
    const failure = this.afterCommitFailure;
    this.afterCommitFailure = undefined;
    if (failure !== undefined) throw failure;
    return 'committed';
  }

  async complete(id: string, owner: string, answer: StoredAnswer, nowMs: number): Promise<void> {
    this.calls.complete++;
    this.throwIfFailing('complete');
    const record = this.records.get(id);
    // As in DynamoDB: a claim taken over means another attempt's answer stands; ask again.
    if (record === undefined || !owns(record, owner)) throw new RequestInFlightError();
    this.finish(id, record, answer, nowMs);
  }

  async settle(id: string, answer: StoredAnswer, nowMs: number): Promise<StoredAnswer> {
    const record = this.records.get(id);
    if (record?.status === 'applied') {
      this.finish(id, record, answer, nowMs);
      return answer;
    }
    if (record?.status === 'done' && record.answer !== undefined) return structuredClone(record.answer);
    throw new RequestInFlightError();
  }

  async release(id: string, owner: string): Promise<void> {
    this.calls.release++;
    this.throwIfFailing('release');
    const record = this.records.get(id);
    if (record !== undefined && owns(record, owner)) this.records.delete(id);
  }

  /** The record as stored, or undefined; a copy. */
  peek(id: string): InMemoryIdempotencyRecord | undefined {
    const record = this.records.get(id);
    return record === undefined ? undefined : structuredClone(record);
  }

  /** Makes the next call of `method` throw `error` before it reads or writes anything. */
  failNext(method: StoreMethod, error: Error): void {
    this.failures.set(method, error);
  }

  /** Makes the next claim write its record, then lose the answer and send the same put again. */
  loseNextClaimAnswer(): void {
    this.claimAnswerLost = true;
  }

  /** Makes the next commit that writes throw `error` after writing. */
  failAfterNextCommit(error: Error): void {
    this.afterCommitFailure = error;
  }

  private throwIfFailing(method: StoreMethod): void {
    const failure = this.failures.get(method);
    if (failure === undefined) return;
    this.failures.delete(method);
    throw failure;
  }

  private finish(id: string, record: InMemoryIdempotencyRecord, answer: StoredAnswer, nowMs: number): void {
    this.records.set(id, {
      ...record,
      status: 'done',
      answer: structuredClone(answer),
      expiresAt: expiresAt(nowMs),
    });
  }
}

function owns(record: InMemoryIdempotencyRecord, owner: string): boolean {
  return record.owner === owner && record.status === 'in-flight';
}

function expiresAt(nowMs: number): number {
  return Math.floor(nowMs / 1000) + IDEMPOTENCY_TTL_SECONDS;
}
