import {
  atVersion,
  exists,
  type Item,
  nameFree,
  notFenced,
  notSharded,
  type Rule,
  refusalOf,
  rules,
  setWithinBounds,
  withinBounds,
  withinRange,
} from '../../functions/counter/change-rules.ts';
import {
  CounterIsSharded,
  CounterOutOfRangeError,
  ShardLayoutError,
  shardBound,
} from '../../functions/counter/errors.ts';
import { numberChanges, type SequencerState, type ShardChange } from '../../functions/counter/history.ts';
import type { StreamChange } from '../../functions/counter/history-recorder.ts';
import type { HistoryStore, SequenceOutcome } from '../../functions/counter/history-store.ts';
import type { Outcome } from '../../functions/counter/idempotency.ts';
import { probeValue } from '../../functions/counter/keyed-witness.ts';
import type {
  ChangeInput,
  CounterRepository,
  HistoryPage,
  HistoryQuery,
  HistoryReader,
  KeyedAttempt,
  ListQuery,
  Page,
  SeriesQuery,
} from '../../functions/counter/repository.ts';
import {
  type BoundChange,
  type HistoryEntry,
  type Operation,
  type StoredCounter,
  toCounter,
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
import {
  fenceAttribute,
  historyKey,
  PROBE,
  seriesKey,
  TAG_ATTEMPT,
  TAG_ID,
} from '../../functions/counter/table.ts';

/**
 * The history and rollups tables in memory, written and read as DynamoHistoryStore does: entries by
 * history key (`name#incarnation`), then by version.
 */
export class InMemoryHistoryStore implements HistoryStore, HistoryReader {
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

  /** Each shard change's entry, by history key then `shard:shardVersion`: what DynamoHistoryStore's pages keep of their sources. */
  private readonly sources = new Map<string, Map<string, HistoryEntry>>();

  async sequence(key: string, changes: ShardChange[]): Promise<SequenceOutcome> {
    const { entries, duplicates } = numberChanges(this.sequencers.get(key), key, changes);
    let written = 0;
    const sources = this.sources.get(key) ?? new Map<string, HistoryEntry>();
    this.sources.set(key, sources);
    for (const { entry, absorbed, source } of entries) {
      if (this.failSequenceAfter !== undefined && written >= this.failSequenceAfter) {
        this.failSequenceAfter = undefined;
        throw new Error('consumer died mid-batch');
      }
      // One entry, its rollups and the sequencer's step: one transaction in DynamoHistoryStore.
      await this.record(key, entry);
      for (const bucket of bucketsOf([entry]))
        await this.rollUp(key, bucket.interval, bucket.start, bucket.changes);
      this.sequencers.set(key, { lastVersion: entry.version, value: entry.value, absorbed });
      sources.set(`${source.shard}:${source.shardVersion}`, entry);
      written++;
    }
    return {
      written,
      duplicates,
      entries: changes.map((change) => sources.get(`${change.shard}:${change.shardVersion}`)),
    };
  }

  async purge(key: string, options: { sharded?: boolean } = {}): Promise<number> {
    const removed = this.entries.get(key)?.size ?? 0;
    this.entries.delete(key);
    for (const interval of INTERVALS) this.rollups.delete(seriesKey(key, interval));
    this.sequencers.delete(key);
    this.sources.delete(key);
    if (options.sharded === true)
      this.sequencers.set(key, { lastVersion: 0, value: 0, absorbed: {}, purged: true });
    return removed;
  }

  async history(input: HistoryQuery): Promise<HistoryPage> {
    const key = historyKey(input.name, input.incarnation);
    // A sharded counter's entries are written in order with their rollups; a plain one's up to the mark.
    const upTo = input.shards === undefined ? this.highWaterMark(key) : undefined;
    return this.page(key, input.limit, input.afterVersion, { ...input, upTo });
  }

  async series(input: SeriesQuery): Promise<Page<SeriesBucket>> {
    return this.seriesPage(historyKey(input.name, input.incarnation), input.interval, input.limit, input);
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
  ): HistoryPage {
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
   * (DynamoHistoryStore.history).
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
 * The counters table in memory, with DynamoCounterRepository's semantics: each change is checked
 * against the same rules (change-rules.ts) DynamoDB's conditions enforce, and is appended to `stream`
 * (old and new image, with a keyed change's tag and a recovery's probe as DynamoDB's items carry
 * them), so a test can feed it to `recordHistory` and `witness` the way the table's stream feeds the
 * consumer; `history()` reads what that wrote to `historyStore`. A sharded counter is one item here
 * (sharding is how DynamoDB items take the load): the twin keeps its rules, not its shards.
 *
 * Faults a test can inject: `failNextChange` throws before a change writes anything;
 * `failAfterNextChange` throws after one wrote (a function that died, or lost the connection,
 * before hearing back).
 */
/** A bound after a set: given (a number), removed (null), or kept from the counter (undefined). */
function boundOf(side: 'min' | 'max', change: BoundChange, current: StoredCounter | undefined) {
  const bound = change === undefined ? current?.[side] : change;
  return typeof bound === 'number' ? { [side]: bound } : {};
}

export class InMemoryCounterRepository implements CounterRepository {
  private readonly counters = new Map<string, StoredCounter>();
  /** What an item holds besides the counter: tags, fences, probes (and nothing else, for a probe-only item). */
  private readonly extras = new Map<string, Record<string, unknown>>();
  private readonly pending: StreamChange[] = [];
  private sequence = 0;
  private failBefore: Error | undefined;
  private failAfter: Error | undefined;
  /** The idempotency table, for changes that write their answer in their own transaction. */
  records: { sealed(attempt: KeyedAttempt, outcome: Outcome): () => void } | undefined;

  constructor(readonly historyStore: InMemoryHistoryStore = new InMemoryHistoryStore()) {}

  async get(name: string): Promise<StoredCounter | undefined> {
    return this.counterOf(name);
  }

  /** The counter as a read returns it, with the last keyed attempt that wrote it. */
  private counterOf(name: string): StoredCounter | undefined {
    const counter = this.counters.get(name);
    if (counter === undefined) return undefined;
    const tag = this.extras.get(name)?.[TAG_ATTEMPT];
    return { ...counter, ...(typeof tag === 'string' ? { tag_attempt: tag } : {}) };
  }

  itemsOf(name: string): string[] {
    return [name];
  }

  async increment(input: ChangeInput & { by: number }): Promise<StoredCounter> {
    return this.change(
      input,
      rules(
        ...this.fenced(input),
        input.expectedVersion === undefined ? undefined : atVersion(input.name, input.expectedVersion),
        withinRange(input.name, input.by),
        withinBounds(input.name, input.by),
      ),
      (current) => ({ value: (current?.value ?? 0) + input.by, op: 'increment' }),
    );
  }

  async set(
    input: ChangeInput & { value: number; shards?: number | undefined; min?: BoundChange; max?: BoundChange },
  ): Promise<StoredCounter> {
    const ifMatch =
      input.expectedVersion === undefined ? undefined : atVersion(input.name, input.expectedVersion);
    if (input.shards !== undefined && input.shards > 1) {
      if (typeof input.min === 'number' || typeof input.max === 'number')
        throw ShardLayoutError.bounded(input.name);
      if (Math.abs(input.value) > shardBound(input.shards)) {
        throw new CounterOutOfRangeError(input.name, 0, `setting ${input.value}`, input.shards);
      }
      const shards = input.shards;
      const created = await this.change(
        input,
        rules(ifMatch, nameFree(input.name)),
        () => ({ value: input.value, op: 'set', shards }),
        { kind: 'created' },
      );
      return created;
    }
    try {
      return await this.change(
        input,
        rules(
          ...this.fenced(input),
          notSharded(),
          ifMatch,
          ...setWithinBounds(input.name, input.value, input),
        ),
        (current) => ({
          value: input.value,
          op: 'set',
          ...boundOf('min', input.min, current),
          ...boundOf('max', input.max, current),
        }),
      );
    } catch (error) {
      if (error instanceof CounterIsSharded)
        throw ShardLayoutError.setOfSharded(input.name, error.layout.shards);
      throw error;
    }
  }

  async delete(input: {
    name: string;
    expectedVersion?: number | undefined;
    attempt?: KeyedAttempt | undefined;
  }): Promise<void> {
    this.throwIfFailing('before');
    const guard = rules(
      input.expectedVersion === undefined ? undefined : atVersion(input.name, input.expectedVersion),
      exists(input.name),
    );
    const seal = this.seal(input.attempt, { kind: 'deleted' });
    const before = this.item(input.name);
    const refusal = refusalOf(guard, before);
    if (refusal !== undefined) throw refusal;
    this.counters.delete(input.name);
    this.extras.delete(input.name);
    seal?.();
    this.emitItems(before, undefined);
    this.throwIfFailing('after');
  }

  async fence(items: readonly string[], recordId: string, attempt: string): Promise<void> {
    const probe = probeValue(recordId, attempt, String(++this.sequence));
    for (const item of items) {
      const before = this.item(item);
      const extras = { ...this.extras.get(item) };
      const fence = new Set(extras[fenceAttribute(recordId)] as Set<string> | undefined);
      fence.add(attempt);
      this.extras.set(item, { ...extras, [fenceAttribute(recordId)]: fence, [PROBE]: probe });
      this.emitItems(before, this.item(item));
    }
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

  history(query: HistoryQuery): Promise<HistoryPage> {
    return this.historyStore.history(query);
  }

  series(query: SeriesQuery): Promise<Page<SeriesBucket>> {
    return this.historyStore.series(query);
  }

  /** The changes since the last call, in order, as stream records; the caller delivers them. */
  takeStream(): StreamChange[] {
    return this.pending.splice(0);
  }

  /** Makes the next change throw `error` before it writes anything. */
  failNextChange(error: Error): void {
    this.failBefore = error;
  }

  /** Makes the next change throw `error` after it wrote. */
  failAfterNextChange(error: Error): void {
    this.failAfter = error;
  }

  /** The item as DynamoDB would hold it: the counter and its extras; undefined when there is neither. */
  private item(name: string): Item | undefined {
    const counter = this.counters.get(name);
    const extras = this.extras.get(name);
    if (counter === undefined && extras === undefined) return undefined;
    return { name, ...extras, ...counter };
  }

  /** A keyed attempt's fence on the item it writes. */
  private fenced(input: ChangeInput) {
    return input.attempt === undefined ? [] : [notFenced(input.attempt.id, input.attempt.attempt)];
  }

  /** The answer written with the change, for a change that seals it; throws if the attempt lost its record. */
  private seal(attempt: KeyedAttempt | undefined, outcome: Outcome): (() => void) | undefined {
    if (attempt === undefined) return undefined;
    if (this.records === undefined) throw new Error('sealed changes need the idempotency table');
    return this.records.sealed(attempt, outcome);
  }

  /** Checks the rules against the item as it is and writes the change, or nothing: one atomic step. */
  private async change(
    input: ChangeInput,
    guard: Rule[],
    next: (current: StoredCounter | undefined) => {
      value: number;
      op: Operation;
      shards?: number;
      min?: number;
      max?: number;
    },
    options: { kind?: 'created' } = {},
  ): Promise<StoredCounter> {
    this.throwIfFailing('before');
    const refusal = refusalOf(guard, this.item(input.name));
    if (refusal !== undefined) throw refusal;
    const current = this.counters.get(input.name);
    const { value, op, shards, ...bounds } = next(current);
    const seal =
      options.kind === 'created'
        ? this.seal(input.attempt, {
            kind: 'counter',
            counter: toCounter({
              name: input.name,
              value,
              version: 1,
              created_at: input.now,
              updated_at: input.now,
              incarnation: input.newIncarnation,
              op,
              actor: input.actor,
              ...(shards === undefined ? {} : { shards }),
            }),
          })
        : undefined;
    const before = this.item(input.name);
    const layout = current?.shards ?? shards;
    const written: StoredCounter = {
      name: input.name,
      value,
      version: (current?.version ?? 0) + 1,
      created_at: current?.created_at ?? input.now,
      updated_at: input.now,
      incarnation: current?.incarnation ?? input.newIncarnation,
      op,
      actor: input.actor,
      ...(layout === undefined ? {} : { shards: layout }),
      // An increment keeps the bounds; a set says them (boundOf).
      ...(op === 'increment'
        ? {
            ...(current?.min === undefined ? {} : { min: current.min }),
            ...(current?.max === undefined ? {} : { max: current.max }),
          }
        : bounds),
    };
    this.counters.set(input.name, written);
    if (options.kind === 'created') this.extras.delete(input.name);
    else if (input.attempt !== undefined) {
      this.extras.set(input.name, {
        ...this.extras.get(input.name),
        [TAG_ID]: input.attempt.id,
        [TAG_ATTEMPT]: input.attempt.attempt,
      });
    }
    seal?.();
    this.emitItems(before, this.item(input.name));
    this.throwIfFailing('after');
    const result = this.counterOf(input.name);
    if (result === undefined) throw new Error('the counter just written is gone');
    return result;
  }

  private throwIfFailing(when: 'before' | 'after'): void {
    const failure = when === 'before' ? this.failBefore : this.failAfter;
    if (failure === undefined) return;
    if (when === 'before') this.failBefore = undefined;
    else this.failAfter = undefined;
    throw failure;
  }

  private emitItems(oldImage: Item | undefined, newImage: Item | undefined): void {
    this.sequence++;
    this.pending.push({
      id: String(this.sequence).padStart(8, '0'),
      ...(oldImage === undefined ? {} : { oldImage: structuredClone(oldImage) }),
      ...(newImage === undefined ? {} : { newImage: structuredClone(newImage) }),
    });
  }
}
