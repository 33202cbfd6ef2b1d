import {
  CounterOutOfRangeError,
  describeIncrement,
  ShardLayoutError,
  shardBound,
  VersionMismatchError,
} from '../../functions/counter/errors.ts';
import { numberChanges, type SequencerState, type ShardChange } from '../../functions/counter/history.ts';
import type { HistoryStore } from '../../functions/counter/history-store.ts';
import type { PlannedChange } from '../../functions/counter/idempotency.ts';
import type { StreamChange } from '../../functions/counter/record-history.ts';
import type {
  ChangeInput,
  CounterRepository,
  HistoryQuery,
  ListQuery,
  Page,
  SeriesQuery,
} from '../../functions/counter/repository.ts';
import {
  type HistoryEntry,
  MAX_VALUE,
  MIN_VALUE,
  type Operation,
  type StoredCounter,
} from '../../functions/counter/schema.ts';
import {
  bucketStart,
  bucketsOf,
  INTERVALS,
  type Interval,
  type RollupChange,
  rollupOf,
  type SeriesBucket,
} from '../../functions/counter/series.ts';
import { historyKey, seriesKey } from '../../functions/counter/table.ts';

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

  /** Rollup buckets by series key (`name#incarnation#interval`), then by bucket start. */
  private readonly rollups = new Map<string, Map<string, SeriesBucket & { lastVersion: number }>>();

  async rollUp(key: string, interval: Interval, start: string, changes: RollupChange[]): Promise<void> {
    const series = this.rollups.get(seriesKey(key, interval)) ?? new Map();
    const bucket = series.get(start);
    const rollup = rollupOf(changes, bucket?.lastVersion ?? 0);
    if (rollup === undefined) return;
    series.set(start, {
      start,
      delta: (bucket?.delta ?? 0) + rollup.delta,
      count: (bucket?.count ?? 0) + rollup.count,
      value: rollup.value,
      lastVersion: rollup.lastVersion,
    });
    this.rollups.set(seriesKey(key, interval), series);
  }

  /** Sharded counters' sequencers by history key, as DynamoHistoryStore keeps them at version 0. */
  private readonly sequencers = new Map<string, SequencerState>();
  /** When set, the next `sequence` commits only this many entries and then throws: a consumer that died mid-batch. */
  failSequenceAfter: number | undefined;

  async sequence(key: string, changes: ShardChange[]): Promise<{ written: number; duplicates: number }> {
    const { entries, duplicates } = numberChanges(this.sequencers.get(key), key, changes);
    let written = 0;
    for (const { entry, absorbed } of entries) {
      if (this.failSequenceAfter !== undefined && written >= this.failSequenceAfter) {
        this.failSequenceAfter = undefined;
        throw new Error('consumer died mid-batch');
      }
      // One entry, its rollups and the sequencer's step: one transaction in DynamoHistoryStore.
      await this.record(key, entry);
      for (const bucket of bucketsOf([entry]))
        await this.rollUp(key, bucket.interval, bucket.start, bucket.changes);
      this.sequencers.set(key, { lastVersion: entry.version, value: entry.value, absorbed });
      written++;
    }
    return { written, duplicates };
  }

  async purge(key: string, options: { sharded?: boolean } = {}): Promise<number> {
    const removed = this.entries.get(key)?.size ?? 0;
    this.entries.delete(key);
    for (const interval of INTERVALS) this.rollups.delete(seriesKey(key, interval));
    this.sequencers.delete(key);
    if (options.sharded === true)
      this.sequencers.set(key, { lastVersion: 0, value: 0, absorbed: {}, purged: true });
    return removed;
  }

  /**
   * Entries after `afterVersion`, oldest first, as the history table's query returns them, within
   * the version window of `since`/`until` (the first change at or after since, the last before until).
   */
  page(
    key: string,
    limit: number,
    afterVersion = 0,
    window: { since?: string | undefined; until?: string | undefined; upTo?: number | undefined } = {},
  ): Page<HistoryEntry> & { lastVersion?: number | undefined } {
    const all = [...(this.entries.get(key)?.values() ?? [])]
      .filter((entry) => window.upTo === undefined || entry.version <= window.upTo)
      .sort((a, b) => a.version - b.version);
    const { since, until } = window;
    const from = since === undefined ? 1 : all.find((entry) => entry.created_at >= since)?.version;
    const to =
      until === undefined
        ? Number.MAX_SAFE_INTEGER
        : all.findLast((entry) => entry.created_at < until)?.version;
    if (from === undefined || to === undefined) return { items: [], hasMore: false };
    const after = all.filter(
      (entry) => entry.version > afterVersion && entry.version >= from && entry.version <= to,
    );
    const items = after.slice(0, limit).map((entry) => ({ ...entry }));
    return { items, hasMore: after.length > limit, lastVersion: items.at(-1)?.version };
  }

  /**
   * The last version the minute rollups hold (0 if none): the consumer rolls a version up only once
   * it and every version before it are written, so a plain counter's history reads up to it
   * (DynamoCounterRepository.history).
   */
  highWaterMark(key: string): number {
    const minutes = [...(this.rollups.get(seriesKey(key, 'minute'))?.values() ?? [])];
    return Math.max(0, ...minutes.map((bucket) => bucket.lastVersion));
  }

  /** A series' buckets after `afterStart`, oldest first, with starts in [since's bucket, until). */
  seriesPage(
    key: string,
    interval: Interval,
    limit: number,
    window: { afterStart?: string | undefined; since?: string | undefined; until?: string | undefined },
  ): Page<SeriesBucket> {
    const lower = window.since === undefined ? undefined : bucketStart(window.since, interval);
    const buckets = [...(this.rollups.get(seriesKey(key, interval))?.values() ?? [])]
      .filter(
        (bucket) =>
          (window.afterStart === undefined || bucket.start > window.afterStart) &&
          (lower === undefined || bucket.start >= lower) &&
          (window.until === undefined || bucket.start < window.until),
      )
      .sort((a, b) => a.start.localeCompare(b.start))
      .map(({ start, delta, count, value }) => ({ start, delta, count, value }));
    return { items: buckets.slice(0, limit), hasMore: buckets.length > limit };
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
      throw new CounterOutOfRangeError(input.name, value, describeIncrement(input.by));
    }
    return this.write(input, current, value + input.by, 'increment');
  }

  /**
   * A sharded counter is one item here too (sharding is how DynamoDB items take the load): what the
   * twin keeps of it is the rules, `shards` fixed at creation and sets refused.
   */
  async set(input: ChangeInput & { value: number; shards?: number | undefined }): Promise<StoredCounter> {
    const current = this.current(input);
    if (current?.shards !== undefined) throw ShardLayoutError.setOfSharded(input.name, current.shards);
    if (input.shards !== undefined && input.shards > 1) {
      if (current !== undefined) throw ShardLayoutError.exists(input.name, current.shards);
      if (Math.abs(input.value) > shardBound(input.shards)) {
        throw new CounterOutOfRangeError(input.name, 0, `setting ${input.value}`, input.shards);
      }
      return this.write(input, undefined, input.value, 'set', input.shards);
    }
    return this.write(input, current, input.value, 'set');
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

  async list(input: ListQuery): Promise<Page<StoredCounter> & { lastName?: string | undefined }> {
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

  async history(input: HistoryQuery): Promise<Page<HistoryEntry> & { lastVersion?: number | undefined }> {
    const key = historyKey(input.name, input.incarnation);
    // A sharded counter's entries are written in order with their rollups; a plain one's up to the mark.
    const upTo = input.paged === true ? undefined : this.historyStore.highWaterMark(key);
    return this.historyStore.page(key, input.limit, input.afterVersion, { ...input, upTo });
  }

  async series(input: SeriesQuery): Promise<Page<SeriesBucket>> {
    return this.historyStore.seriesPage(
      historyKey(input.name, input.incarnation),
      input.interval,
      input.limit,
      input,
    );
  }

  /**
   * A keyed change's counter write, as DynamoIdempotencyStore's transaction makes it: applied only if
   * the counter is still as the change was planned from (its version and incarnation; absent when
   * `seen` is undefined); otherwise nothing changes and the answer is false. No range check: the plan made it.
   * Synchronous, so a caller can check its own condition and apply this as one atomic step.
   */
  applyPlanned(change: PlannedChange): boolean {
    const name = change.kind === 'delete' ? change.name : change.input.name;
    const current = this.counters.get(name);
    const seen = change.seen;
    // A sharded counter's increment or delete without If-Match holds only to the incarnation.
    const loose =
      current?.shards !== undefined &&
      (change.kind === 'increment'
        ? change.input.expectedVersion
        : change.kind === 'delete'
          ? change.expectedVersion
          : 0) === undefined;
    const unchanged =
      seen === undefined
        ? current === undefined
        : (loose || current?.version === seen.version) && current?.incarnation === seen.incarnation;
    if (!unchanged) return false;
    if (change.kind === 'increment') {
      this.write(change.input, current, (current?.value ?? 0) + change.input.by, 'increment');
    } else if (change.kind === 'set') {
      this.write(change.input, current, change.input.value, 'set', change.input.shards);
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
    shards?: number | undefined,
  ): StoredCounter {
    const layout = current?.shards ?? (shards !== undefined && shards > 1 ? shards : undefined);
    const next: StoredCounter = {
      name: input.name,
      value,
      version: (current?.version ?? 0) + 1,
      created_at: current?.created_at ?? input.now,
      updated_at: input.now,
      incarnation: current?.incarnation ?? input.newIncarnation,
      op,
      actor: input.actor,
      ...(layout === undefined ? {} : { shards: layout }),
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
