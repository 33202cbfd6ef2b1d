import * as z from 'zod/mini';
import type { ShardSource } from './history.ts';
import { counterValue, type HistoryEntry, MAX_SHARDS, operation } from './schema.ts';

/**
 * A sharded counter's history page: the entries of one step of its sequencer in one item, written
 * compactly because a hot counter's whole history shares one partition (docs/sharding.md). What an
 * entry repeats of the one before is left out and rebuilt on reading, exactly:
 *
 * - `version`: consecutive from `first_version`;
 * - `value`: `value_before` plus the deltas so far (history's own rule: each value is the previous
 *   one's plus its delta);
 * - `actor`: an index into `actors`, each principal written once;
 * - `created_at`: milliseconds after `time`, the first entry's (the changes of one step are moments
 *   apart), or the string itself where a number would not give it back character for character;
 * - `op`: written only when it is not `increment` (a sharded counter's creating set).
 *
 * Each change is `[delta, time, actor]` or `[delta, time, actor, op]`.
 */
export interface StoredPage {
  first_version: number;
  value_before: number;
  time: string;
  actors: string[];
  changes: PageChange[];
}

type PageChange = [number, number | string, number] | [number, number | string, number, 'set'];

const pageTime = z.union([z.number().check(z.int()), z.string()]);
const actorIndex = z.number().check(z.int(), z.nonnegative());

/** A page as stored (the key attributes and expiry aside). */
export const storedPage = z.object({
  first_version: z.number().check(z.int(), z.positive()),
  value_before: counterValue,
  time: z.string(),
  actors: z.array(z.string()),
  changes: z.array(
    z.union([
      z.tuple([z.number().check(z.int()), pageTime, actorIndex]),
      z.tuple([z.number().check(z.int()), pageTime, actorIndex, operation]),
    ]),
  ),
});

/** A page's body for consecutive entries, each value the previous one's plus its delta. */
export function encodePage(entries: readonly HistoryEntry[]): StoredPage {
  const first = entries[0];
  if (first === undefined) throw new Error('a history page holds at least one entry');
  const start = Date.parse(first.created_at);
  const actors: string[] = [];
  const indexes = new Map<string, number>();
  const before = first.value - first.delta;
  let value = before;
  const changes = entries.map((entry, i): PageChange => {
    value += entry.delta;
    if (entry.version !== first.version + i || entry.value !== value) {
      throw new Error(`history page: entry ${entry.version} does not follow the one before it`);
    }
    let actor = indexes.get(entry.actor);
    if (actor === undefined) {
      actor = actors.push(entry.actor) - 1;
      indexes.set(entry.actor, actor);
    }
    const at = Date.parse(entry.created_at);
    // A number only where it gives the time back exactly (both times canonical ISO 8601).
    const time = Number.isFinite(start) && timeOf(at) === entry.created_at ? at - start : entry.created_at;
    return entry.op === 'increment' ? [entry.delta, time, actor] : [entry.delta, time, actor, entry.op];
  });
  return {
    first_version: first.version,
    value_before: before,
    time: first.created_at,
    actors,
    changes,
  };
}

/** The entries of a stored page, as they were before encodePage. */
export function decodePage(item: unknown): HistoryEntry[] {
  const page = storedPage.parse(item);
  const start = Date.parse(page.time);
  let value = page.value_before;
  return page.changes.map(([delta, time, actorIndexOf, op], i) => {
    const actor = page.actors[actorIndexOf];
    if (actor === undefined) throw new Error(`history page: no actor ${actorIndexOf}`);
    const createdAt = typeof time === 'string' ? time : timeOf(start + time);
    if (createdAt === undefined)
      throw new Error(`history page: no time for version ${page.first_version + i}`);
    value += delta;
    return {
      version: page.first_version + i,
      value,
      delta,
      op: op ?? 'increment',
      created_at: createdAt,
      actor,
    };
  });
}

function timeOf(epochMs: number): string | undefined {
  return Number.isFinite(epochMs) ? new Date(epochMs).toISOString() : undefined;
}

/**
 * Which shard change each entry of a page was, so that a batch delivered again learns the versions
 * its changes were given (DynamoHistoryStore.sequence), and publishes their events with them
 * (docs/events.md). Beside the page's body, compactly: `shards` holds one base-32 digit per entry (its
 * shard, 0 to MAX_SHARDS - 1), `shard_first` each shard's first version in the page; a shard's later
 * entries in the page follow it one by one, as a shard's changes come in its order.
 */
export interface StoredSources {
  shards: string;
  shard_first: Record<string, number>;
}

const storedSources = z.object({
  shards: z.string(),
  shard_first: z.record(z.string(), z.number().check(z.int(), z.positive())),
});

/**
 * The sources of a page's entries, in its order; undefined when some shard's changes in it do not
 * follow one another (never, from one stream batch), and the page is then written without them.
 */
export function encodeSources(sources: readonly ShardSource[]): StoredSources | undefined {
  const first: Record<string, number> = {};
  const last = new Map<number, number>();
  let shards = '';
  for (const { shard, shardVersion } of sources) {
    if (!Number.isInteger(shard) || shard < 0 || shard >= MAX_SHARDS) return undefined;
    const before = last.get(shard);
    if (before === undefined) first[String(shard)] = shardVersion;
    else if (shardVersion !== before + 1) return undefined;
    last.set(shard, shardVersion);
    shards += shard.toString(32);
  }
  return { shards, shard_first: first };
}

/** The sources of a stored page's `count` entries; undefined for a page written without them. */
export function decodeSources(item: unknown, count: number): ShardSource[] | undefined {
  const parsed = storedSources.safeParse(item);
  if (!parsed.success || parsed.data.shards.length !== count) return undefined;
  const next = new Map<number, number>();
  const sources: ShardSource[] = [];
  for (const digit of parsed.data.shards) {
    const shard = Number.parseInt(digit, 32);
    const shardVersion = next.get(shard) ?? parsed.data.shard_first[String(shard)];
    if (Number.isNaN(shard) || shardVersion === undefined) return undefined;
    sources.push({ shard, shardVersion });
    next.set(shard, shardVersion + 1);
  }
  return sources;
}
