import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { retryPause } from '../shared/retry.ts';
import { LayoutChanged, ShardShareExceeded } from './change-rules.ts';
import { type CounterTable, counterOf, explain } from './counter-table.ts';
import {
  type Layout,
  shardedCreation,
  shardedDeletion,
  shardedRoot,
  shardIncrement,
  type TransactItem,
} from './counter-writes.ts';
import {
  AttemptFencedError,
  CounterBusyError,
  CounterNotFoundError,
  CounterOutOfRangeError,
  describeIncrement,
  shardBound,
  VersionMismatchError,
} from './errors.ts';
import type { ChangeInput, KeyedAttempt } from './repository.ts';
import { type StoredCounter, type StoredShard, storedShard, toCounter } from './schema.ts';
import { shardKey } from './table.ts';

/** Layouts remembered per warm function instance, so increments of a hot counter go straight to a shard. */
const MAX_CACHED_LAYOUTS = 1000;

/** Snapshots a change of a sharded counter takes while other changes keep moving it. */
const SNAPSHOT_ATTEMPTS = 8;

/**
 * Counters spread over N items for more than one item's rate (docs/sharding.md): each increment is one
 * UpdateItem of one shard, reads sum all N from one TransactGetItems snapshot, and If-Match changes,
 * creations and deletes are transactions over the shards. Beside the plain counters of
 * dynamodb-repository.ts, behind the same repository interface; it remembers the layouts it has seen.
 */
export class ShardedCounters {
  private readonly layouts = new Map<string, Layout>();

  constructor(private readonly table: CounterTable) {}

  /** The layout this instance knows the counter by, if it has met it sharded. */
  known(name: string): Layout | undefined {
    return this.layouts.get(name);
  }

  remember(name: string, layout: Layout): Layout {
    if (this.layouts.size >= MAX_CACHED_LAYOUTS && !this.layouts.has(name)) {
      const oldest = this.layouts.keys().next().value;
      if (oldest !== undefined) this.layouts.delete(oldest);
    }
    this.layouts.set(name, layout);
    return layout;
  }

  forget(name: string): void {
    this.layouts.delete(name);
  }

  /** The items a change of the counter may write: its own, and its shards as far as they are known. */
  itemsOf(name: string): string[] {
    return Array.from({ length: this.layouts.get(name)?.shards ?? 1 }, (_, index) => shardKey(name, index));
  }

  /**
   * A sharded counter as one consistent snapshot of all its items (TransactGetItems is serializable),
   * or undefined if it no longer exists. A name created again with another layout is read afresh.
   */
  async read(name: string, layout: Layout): Promise<StoredCounter | undefined> {
    for (let attempt = 0; ; attempt++) {
      let items: (Record<string, unknown> | undefined)[];
      try {
        items = await this.table.snapshot(this.keys(name, layout));
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        // DynamoDB cancels a TransactGetItems while any of its items is being written, which on a
        // hot counter is most of the time: after one more try, read each shard on its own instead.
        if (attempt >= 1) return this.sumOfShards(name, layout);
        await retryPause(1);
        continue;
      }
      const root = counterOf(items[0]);
      if (root === undefined) return undefined;
      if (root.shards !== layout.shards || root.incarnation !== layout.incarnation) {
        this.forget(name);
        if (root.shards === undefined) return root;
        layout = this.remember(name, layoutOf(root));
        continue;
      }
      return sumOf(
        root,
        items.slice(1).map((item) => storedShard.parse(item)),
      );
    }
  }

  /**
   * One UpdateItem of one shard, chosen at random, then a snapshot to answer with (which holds this
   * change, and possibly others made meanwhile). With If-Match, the change is conditioned on every
   * shard's version instead, so the answer is exactly the counter this change made.
   */
  async increment(
    input: ChangeInput & { by: number; readBack?: boolean | undefined },
    layout: Layout,
  ): Promise<StoredCounter | undefined | 'stale'> {
    if (input.expectedVersion !== undefined) return this.incrementIfMatch(input, layout);
    const index = Math.floor(Math.random() * layout.shards);
    await input.attempt?.reach([shardKey(input.name, index)]);
    const write = shardIncrement(this.table.name, { name: input.name, layout }, input, index);
    try {
      await this.table.updateItem(input.name, write);
    } catch (refusal) {
      if (refusal instanceof LayoutChanged) return 'stale';
      if (!(refusal instanceof ShardShareExceeded)) throw refusal;
      const total = await this.read(input.name, layout);
      throw new CounterOutOfRangeError(
        input.name,
        total?.value ?? 0,
        describeIncrement(input.by),
        layout.shards,
      );
    }
    // The change is made. Reading every shard for the answer is what caps a hot counter's rate (each
    // increment reads all N items), so a caller may decline it (Prefer: return=minimal). And nothing
    // may fail now, or the caller would send the change again: a failed read (throttled, say) answers
    // that the change is applied, unread.
    if (input.readBack === false) return undefined;
    try {
      return await this.read(input.name, layout);
    } catch {
      return undefined;
    }
  }

  private async incrementIfMatch(
    input: ChangeInput & { by: number },
    layout: Layout,
  ): Promise<StoredCounter | 'stale'> {
    const expected = input.expectedVersion ?? 0;
    for (let attempt = 0; attempt < SNAPSHOT_ATTEMPTS; attempt++) {
      if (attempt > 0) await retryPause(attempt);
      const seen = await this.read(input.name, layout);
      if (seen === undefined || seen.shards === undefined) return 'stale';
      if (seen.version !== expected) throw new VersionMismatchError(input.name, expected, seen.version);
      const versions = seen.shardVersions ?? [];
      const index = Math.floor(Math.random() * layout.shards);
      await input.attempt?.reach([shardKey(input.name, index)]);
      const write = shardIncrement(this.table.name, { name: input.name, layout, versions }, input, index);
      // Every shard in its place, so that the reasons of a cancellation name the shards by index.
      const checks = [...write.checks];
      const items = Array.from({ length: layout.shards }, (_, shard) =>
        shard === index ? ({ Update: write.request } as TransactItem) : checks.shift()?.request,
      ).filter((item): item is TransactItem => item !== undefined);
      try {
        await this.table.transact(input.name, items);
      } catch (error) {
        const refusal = explain(error, write.rules, index);
        if (refusal instanceof ShardShareExceeded) {
          throw new CounterOutOfRangeError(
            input.name,
            seen.value,
            describeIncrement(input.by),
            layout.shards,
          );
        }
        if (refusal instanceof AttemptFencedError || !(error instanceof TransactionCanceledException)) {
          throw refusal;
        }
        // Another change got in since the snapshot: look again.
        continue;
      }
      return {
        ...seen,
        value: seen.value + input.by,
        version: seen.version + 1,
        updated_at: latest(input.now, seen.updated_at),
        op: 'increment',
        actor: input.actor,
        shardVersions: versions.map((version, shard) => (shard === index ? version + 1 : version)),
      };
    }
    const now = await this.read(input.name, layout);
    // Still at the version asked for: the attempts only met other transactions.
    if (now?.version === expected) throw new CounterBusyError(input.name);
    throw new VersionMismatchError(input.name, expected, now?.version);
  }

  /**
   * Creates a counter spread over `shards` items, in one transaction: shard 0 holds the value. `current`
   * reads the name, for the refusal of an If-Match other than 0 (a creation is of version 0).
   */
  async create(
    input: ChangeInput & { value: number },
    shards: number,
    current: () => Promise<StoredCounter | undefined>,
  ): Promise<StoredCounter> {
    if (input.expectedVersion !== undefined && input.expectedVersion !== 0) {
      throw new VersionMismatchError(input.name, input.expectedVersion, (await current())?.version);
    }
    if (Math.abs(input.value) > shardBound(shards)) {
      throw new CounterOutOfRangeError(input.name, 0, `setting ${input.value}`, shards);
    }
    const root = shardedRoot(input, shards);
    const created = { ...root, shardVersions: [1, ...Array.from({ length: shards - 1 }, () => 0)] };
    const creation = shardedCreation(this.table.name, root, input.expectedVersion);
    try {
      await this.table.transact(input.name, creation.items, input.attempt, {
        kind: 'counter',
        counter: toCounter(created),
      });
    } catch (error) {
      throw explain(error, creation.rules);
    }
    this.remember(input.name, layoutOf(root));
    return created;
  }

  /**
   * Deletes a sharded counter and all its shards in one transaction, from a snapshot (If-Match on its
   * total version). 'stale' when the name no longer holds a sharded counter.
   */
  async delete(
    input: { name: string; expectedVersion?: number | undefined; attempt?: KeyedAttempt | undefined },
    layout: Layout,
  ): Promise<'deleted' | 'stale'> {
    for (let attempt = 0; attempt < SNAPSHOT_ATTEMPTS; attempt++) {
      if (attempt > 0) await retryPause(attempt);
      const seen = await this.read(input.name, layout);
      if (seen === undefined) {
        if (input.expectedVersion !== undefined && input.expectedVersion !== 0) {
          throw new VersionMismatchError(input.name, input.expectedVersion, undefined);
        }
        throw new CounterNotFoundError(input.name);
      }
      if (seen.shards === undefined) return 'stale';
      if (input.expectedVersion !== undefined && seen.version !== input.expectedVersion) {
        throw new VersionMismatchError(input.name, input.expectedVersion, seen.version);
      }
      const deletes = shardedDeletion(this.table.name, {
        name: input.name,
        layout: layoutOf(seen),
        versions: input.expectedVersion === undefined ? undefined : seen.shardVersions,
      });
      try {
        await this.table.transact(input.name, deletes, input.attempt);
        this.forget(input.name);
        return 'deleted';
      } catch (error) {
        // A shard moved (If-Match) or the layout changed since the snapshot: look again.
        if (!(error instanceof TransactionCanceledException)) throw error;
      }
    }
    const now = await this.read(input.name, layout);
    if (input.expectedVersion === undefined || now?.version === input.expectedVersion) {
      throw new CounterBusyError(input.name);
    }
    throw new VersionMismatchError(input.name, input.expectedVersion, now?.version);
  }

  /**
   * A sharded counter summed from one consistent GetItem per shard: each read holds every change
   * acknowledged before it, and none is refused for writes in flight; the sum may combine the shards
   * a few milliseconds apart, as reading any counter under writes does.
   */
  private async sumOfShards(name: string, layout: Layout): Promise<StoredCounter | undefined> {
    const [rootItem, ...shardItems] = await Promise.all(
      this.keys(name, layout).map((key) => this.table.item(key)),
    );
    const root = counterOf(rootItem);
    if (root === undefined) return undefined;
    if (root.shards === undefined) return root;
    if (root.shards !== layout.shards) return this.sumOfShards(name, this.remember(name, layoutOf(root)));
    const shards = shardItems.flatMap((item) => (item === undefined ? [] : [storedShard.parse(item)]));
    return sumOf(
      root,
      shards.filter((shard) => shard.incarnation === root.incarnation),
    );
  }

  private keys(name: string, layout: Layout): string[] {
    return Array.from({ length: layout.shards }, (_, index) => shardKey(name, index));
  }
}

/** A sharded counter from its own item (shard 0) and its other shards: value and version summed. */
function sumOf(root: StoredCounter, shards: readonly StoredShard[]): StoredCounter {
  const versions = [root.version, ...shards.map((shard) => shard.version)];
  return {
    ...root,
    value: shards.reduce((sum, shard) => sum + shard.value, root.value),
    version: versions.reduce((sum, version) => sum + version, 0),
    updated_at: shards.reduce((time, shard) => latest(time, shard.updated_at), root.updated_at),
    shardVersions: versions,
  };
}

/** The later of two ISO 8601 UTC times (which order as strings). */
function latest(a: string, b: string): string {
  return a > b ? a : b;
}

export function layoutOf(counter: StoredCounter): Layout {
  return { shards: counter.shards ?? 1, incarnation: counter.incarnation };
}
