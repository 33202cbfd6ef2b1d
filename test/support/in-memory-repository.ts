import { CounterOutOfRangeError, VersionMismatchError } from '../../functions/counter/errors.ts';
import type { HistoryStore } from '../../functions/counter/history-store.ts';
import type { PlannedChange } from '../../functions/counter/idempotency.ts';
import type { StreamChange } from '../../functions/counter/record-history.ts';
import type { ChangeInput, CounterRepository, Page } from '../../functions/counter/repository.ts';
import {
  type HistoryEntry,
  MAX_VALUE,
  MIN_VALUE,
  type Operation,
  type StoredCounter,
} from '../../functions/counter/schema.ts';
import { historyKey } from '../../functions/counter/table.ts';

/** The history table in memory: entries by history key (`name#incarnation`), then by version. */
export class InMemoryHistoryStore implements HistoryStore {
  private readonly entries = new Map<string, Map<number, HistoryEntry>>();

  async record(key: string, entry: HistoryEntry): Promise<'written' | 'duplicate'> {
    const versions = this.entries.get(key) ?? new Map<number, HistoryEntry>();
    if (versions.has(entry.version)) return 'duplicate';
    versions.set(entry.version, { ...entry });
    this.entries.set(key, versions);
    return 'written';
  }

  async purge(key: string): Promise<number> {
    const removed = this.entries.get(key)?.size ?? 0;
    this.entries.delete(key);
    return removed;
  }

  /** Entries after `afterVersion`, oldest first, as the history table's query returns them. */
  page(key: string, limit: number, afterVersion = 0): Page<HistoryEntry> {
    const after = [...(this.entries.get(key)?.values() ?? [])]
      .filter((entry) => entry.version > afterVersion)
      .sort((a, b) => a.version - b.version);
    return { items: after.slice(0, limit).map((entry) => ({ ...entry })), hasMore: after.length > limit };
  }

  /** Every key and its entries, for assertions about the whole store. */
  snapshot(): Record<string, HistoryEntry[]> {
    const all: Record<string, HistoryEntry[]> = {};
    for (const key of [...this.entries.keys()].sort())
      all[key] = this.page(key, Number.MAX_SAFE_INTEGER).items;
    return all;
  }
}

/**
 * The counters table in memory, with DynamoCounterRepository's semantics. Each change is also
 * appended to `stream` (old and new image), so a test can feed it to `recordHistory` the way the
 * table's stream feeds the consumer; `history()` reads what that wrote to `historyStore`.
 */
export class InMemoryCounterRepository implements CounterRepository {
  private readonly counters = new Map<string, StoredCounter>();
  private readonly pending: StreamChange[] = [];
  private sequence = 0;

  constructor(readonly historyStore: InMemoryHistoryStore = new InMemoryHistoryStore()) {}

  async get(name: string): Promise<StoredCounter | undefined> {
    const counter = this.counters.get(name);
    return counter === undefined ? undefined : { ...counter };
  }

  async increment(input: ChangeInput & { by: number }): Promise<StoredCounter> {
    const current = this.current(input);
    const value = current?.value ?? 0;
    // The same bounds DynamoCounterRepository puts in its condition.
    if ((input.by > 0 && value > MAX_VALUE - input.by) || (input.by < 0 && value < MIN_VALUE - input.by)) {
      const attempted = input.by >= 0 ? `adding ${input.by}` : `subtracting ${-input.by}`;
      throw new CounterOutOfRangeError(input.name, value, attempted);
    }
    return this.write(input, current, value + input.by, 'increment');
  }

  async set(input: ChangeInput & { value: number }): Promise<StoredCounter> {
    return this.write(input, this.current(input), input.value, 'set');
  }

  async delete(input: {
    name: string;
    expectedVersion?: number | undefined;
  }): Promise<StoredCounter | undefined> {
    const current = this.current(input);
    if (current === undefined) return undefined;
    this.counters.delete(input.name);
    this.emit(current, undefined);
    return { ...current };
  }

  async list(input: {
    prefix: string;
    limit: number;
    after?: string | undefined;
  }): Promise<Page<StoredCounter> & { lastName?: string | undefined }> {
    const { after } = input;
    const names = [...this.counters.keys()]
      .filter((name) => name.startsWith(input.prefix) && (after === undefined || name > after))
      .sort();
    return {
      items: names.slice(0, input.limit).flatMap((name) => {
        const counter = this.counters.get(name);
        return counter === undefined ? [] : [{ ...counter }];
      }),
      hasMore: names.length > input.limit,
      lastName: names.slice(0, input.limit).at(-1),
    };
  }

  async history(input: {
    name: string;
    incarnation: string;
    limit: number;
    afterVersion?: number | undefined;
  }): Promise<Page<HistoryEntry>> {
    return this.historyStore.page(historyKey(input.name, input.incarnation), input.limit, input.afterVersion);
  }

  /**
   * A keyed change's counter write, as DynamoIdempotencyStore's transaction makes it: applied only if
   * the counter is still at the version the change was planned from (absent when `seenVersion` is
   * undefined); otherwise nothing changes and the answer is false. No range check: the plan made it.
   * Synchronous, so a caller can check its own condition and apply this as one atomic step.
   */
  applyPlanned(change: PlannedChange): boolean {
    const name = change.kind === 'delete' ? change.name : change.input.name;
    const current = this.counters.get(name);
    if (current?.version !== change.seenVersion) return false;
    if (change.kind === 'increment') {
      this.write(change.input, current, (current?.value ?? 0) + change.input.by, 'increment');
    } else if (change.kind === 'set') {
      this.write(change.input, current, change.input.value, 'set');
    } else if (current !== undefined) {
      this.counters.delete(name);
      this.emit(current, undefined);
    }
    return true;
  }

  /** The changes since the last call, in order, as stream records; the caller delivers them. */
  takeStream(): StreamChange[] {
    return this.pending.splice(0);
  }

  /** The counter as it is, after checking If-Match: a mismatch (or no counter) changes nothing. */
  private current(input: { name: string; expectedVersion?: number | undefined }): StoredCounter | undefined {
    const current = this.counters.get(input.name);
    if (input.expectedVersion !== undefined && (current?.version ?? 0) !== input.expectedVersion) {
      throw new VersionMismatchError(input.name, input.expectedVersion, current?.version);
    }
    return current;
  }

  private write(
    input: ChangeInput,
    current: StoredCounter | undefined,
    value: number,
    op: Operation,
  ): StoredCounter {
    const next: StoredCounter = {
      name: input.name,
      value,
      version: (current?.version ?? 0) + 1,
      created_at: current?.created_at ?? input.now,
      updated_at: input.now,
      incarnation: current?.incarnation ?? input.newIncarnation,
      op,
      actor: input.actor,
    };
    this.counters.set(input.name, next);
    this.emit(current, next);
    return { ...next };
  }

  private emit(oldImage: StoredCounter | undefined, newImage: StoredCounter | undefined): void {
    this.sequence++;
    this.pending.push({
      id: String(this.sequence).padStart(8, '0'),
      ...(oldImage === undefined ? {} : { oldImage: { ...oldImage } }),
      ...(newImage === undefined ? {} : { newImage: { ...newImage } }),
    });
  }
}
