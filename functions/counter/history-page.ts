import * as z from 'zod/mini';
import { counterValue, type HistoryEntry, operation } from './schema.ts';

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
