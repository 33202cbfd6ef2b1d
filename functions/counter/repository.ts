import type { Outcome, StoredAnswer } from './idempotency.ts';
import type { BoundChange, HistoryEntry, StoredCounter } from './schema.ts';
import type { Interval, SeriesBucket } from './series.ts';

export interface ChangeInput {
  name: string;
  actor: string;
  /** ISO 8601 time of the change. */
  now: string;
  /** Used only if this change creates the counter. */
  newIncarnation: string;
  /** From If-Match: apply only if the counter is at this version. */
  expectedVersion?: number | undefined;
  /** Set when the change is a keyed one's (Idempotency-Key): see idempotency.ts. */
  attempt?: KeyedAttempt | undefined;
}

/**
 * One attempt at a keyed change. Its writes carry its ids, so the table's stream says which attempt
 * made them, and are refused once a recovery has fenced the attempt off (change-rules.ts notFenced).
 */
export interface KeyedAttempt {
  /** The idempotency record's id. */
  id: string;
  /** This attempt's id: the record's owner while it runs. */
  attempt: string;
  /** Records, before they are written, every item the change may write, so a recovery can probe them. */
  reach(items: string[]): Promise<void>;
  /**
   * The answer, for a change whose answer is known before it is made (a delete, a sharded counter's
   * creation): it is written in the change's own transaction, so the record holds it if the change landed.
   */
  answer(outcome: Outcome): StoredAnswer;
}

export interface Page<T> {
  items: T[];
  /** True while more items remain after the last one returned. */
  hasMore: boolean;
}

/** A page of a history, and where it ended in versions, for the cursor. */
export type HistoryPage = Page<HistoryEntry> & { lastVersion?: number | undefined };

/**
 * A counter's history and series as the domain reads them. The store that writes them (the stream
 * consumer's, dynamodb-history-store.ts) reads them, and alone knows how they are stored.
 */
export interface HistoryReader {
  /**
   * Entries oldest first. `since`/`until` (ISO instants, until exclusive) select the versions from
   * the first change at or after `since` to the last before `until`. Expired entries are left out.
   * No entry is answered before every earlier one is readable (docs/history.md), so a cursor never
   * passes a change still being written. `lastVersion` is where the page ended, for the cursor.
   */
  history(query: HistoryQuery): Promise<HistoryPage>;
  /** Buckets oldest first, from the rollups; `since`/`until` bound the buckets' starts. */
  series(query: SeriesQuery): Promise<Page<SeriesBucket>>;
}

/**
 * What the domain needs from storage: the counters, and their history and series (answered by the
 * history store). The DynamoDB implementation lives beside this file; an in-memory twin with the
 * same behaviour serves the unit tests.
 *
 * Every change is one atomic storage operation: implementations never read a value, compute, and
 * write it back.
 */
export interface CounterRepository extends HistoryReader {
  get(name: string): Promise<StoredCounter | undefined>;
  /**
   * Adds `by` atomically; creates the counter at 0 first if absent. Answers the counter after it,
   * or undefined when the change is applied but the counter was not read: a sharded counter, whose
   * total takes a read of every shard, when `readBack` is false or that read failed.
   */
  increment(
    input: ChangeInput & { by: number; readBack?: boolean | undefined },
  ): Promise<StoredCounter | undefined>;
  /**
   * Sets the value; creates the counter if absent. `shards` > 1 creates it spread over that many
   * items, and refuses (ShardLayoutError) if it exists; a sharded counter refuses sets. `min`/`max`:
   * a number sets the bound, null removes it, undefined keeps it (never on a sharded counter).
   */
  set(
    input: ChangeInput & {
      value: number;
      shards?: number | undefined;
      min?: BoundChange;
      max?: BoundChange;
    },
  ): Promise<StoredCounter>;
  /** Deletes the counter; CounterNotFoundError if there is none. */
  delete(input: {
    name: string;
    expectedVersion?: number | undefined;
    attempt?: KeyedAttempt | undefined;
  }): Promise<void>;
  /**
   * The items a change of the counter may write, as far as this instance knows its layout: its own
   * item, and a sharded counter's shards (a change that finds more reaches them first).
   */
  itemsOf(name: string): string[];
  /**
   * Fences `attempt` of the keyed change `recordId` off each item (its later writes are refused) and
   * leaves a probe in each item's stream after every write the attempt made (idempotency.ts).
   */
  fence(items: readonly string[], recordId: string, attempt: string): Promise<void>;
  /**
   * `lastName` is where the page ended in the name order, which a cursor continues after even when
   * the page's counters were all deleted since the index listed them.
   */
  list(query: ListQuery): Promise<Page<StoredCounter> & { lastName?: string | undefined }>;
}

export interface ListQuery {
  prefix: string;
  limit: number;
  after?: string | undefined;
}

/** A page of one counter incarnation's history or series, optionally within a time window. */
interface WindowQuery {
  name: string;
  incarnation: string;
  limit: number;
  since?: string | undefined;
  until?: string | undefined;
}

export interface HistoryQuery extends WindowQuery {
  afterVersion?: number | undefined;
  /** The counter's shards when it is sharded (StoredCounter.shards); how that shapes its history is the store's business. */
  shards?: number | undefined;
}

export interface SeriesQuery extends WindowQuery {
  interval: Interval;
  afterStart?: string | undefined;
}
