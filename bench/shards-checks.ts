/**
 * What `npm run bench:shards` checks and reads around its load phases: the counter's exact value, its
 * history's length, what the proxy saw of its items, when the history consumer went quiet, and what the
 * server logged.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { CounterClient, RawAnswer } from '../client/index.ts';
import type { ItemRateCounts, ItemRateProxy } from './item-rate-proxy.ts';
import { CONSUMER_DRAIN_MAX_MS, CONSUMER_QUIET_MS, type Load } from './shards-document.ts';

const counterBody = z.object({ value: z.number(), shards: z.number().optional() });

function expectStatus(answer: RawAnswer, status: number, what: string): void {
  if (answer.status !== status)
    throw new Error(`${what}: expected ${status}, got ${answer.status} ${answer.text.slice(0, 400)}`);
}

/** Creates the counter with `shards` shards at 0; N = 1 is a plain counter, as before sharding existed. */
export async function createCounter(client: CounterClient, name: string, shards: number): Promise<void> {
  const body = shards === 1 ? { value: 0 } : { value: 0, shards };
  const answer = await client.request('PUT', `/counters/${name}`, { body });
  expectStatus(answer, 200, `PUT /counters/${name} ${JSON.stringify(body)}`);
  const counter = counterBody.parse(answer.body);
  if (shards > 1 && counter.shards !== shards)
    throw new Error(
      `PUT asked for ${shards} shards, the counter says ${String(counter.shards)}: ${answer.text}`,
    );
}

/**
 * The counter's value. Under --read-limit the GET (all N shards) may itself be throttled right after
 * a load: a 429 is waited out (Retry-After) and asked again, since the check is of the value, not of
 * the read's availability.
 */
async function readValue(client: CounterClient, name: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const answer = await client.request('GET', `/counters/${name}`);
    if (answer.status === 429 && attempt < 10) {
      const wait = Number(answer.headers.get('retry-after') ?? '1');
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(5, Number.isFinite(wait) ? wait : 1) * 1000),
      );
      continue;
    }
    expectStatus(answer, 200, `GET /counters/${name}`);
    return counterBody.parse(answer.body).value;
  }
}

/**
 * Every acknowledged increment (200 or 204) applied once, every refused one (429) not at all: the
 * value says so exactly. A 429 whose change was applied anyway shows as a value above the count.
 */
export async function checkExact(client: CounterClient, name: string, load: Load): Promise<number> {
  const value = await readValue(client, name);
  const unanswered = Object.values(load.other).reduce((sum, count) => sum + count, 0);
  if (value !== load.acknowledged) {
    throw new Error(
      `${name}: the value is ${value} after ${load.acknowledged} acknowledged increments ` +
        `(${load.ok} x 200, ${load.noContent} x 204, ${load.throttled} x 429, other answers ${JSON.stringify(load.other)}` +
        `${unanswered > 0 ? ', which may or may not have applied' : ''})`,
    );
  }
  return value;
}

export async function historyLength(client: CounterClient, name: string): Promise<number> {
  let entries = 0;
  for await (const _entry of client.history(name, { limit: 1000 })) entries++;
  return entries;
}

/** The counters table is the one holding the counter's own item; its shards are `<name>#<i>`. */
export function counterItems(
  counts: ItemRateCounts,
  name: string,
): { table: string; units: number[]; readUnits: number } {
  const own = JSON.stringify({ S: name });
  const shard = new RegExp(`^\\{"S":"${escapeRegExp(name)}#[0-9]+"\\}$`);
  const ofCounter = (byItem: Record<string, number>) =>
    Object.entries(byItem)
      .filter(([key]) => key === own || shard.test(key))
      .map(([, value]) => value);
  for (const [table, byItem] of Object.entries(counts.unitsByItem)) {
    if (byItem[own] === undefined) continue;
    const readUnits = ofCounter(counts.readUnitsByItem[table] ?? {}).reduce((sum, units) => sum + units, 0);
    return { table, units: ofCounter(byItem), readUnits };
  }
  return { table: '', units: [], readUnits: 0 };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The counts of every table but `table`. */
export function without(counts: Record<string, number>, table: string): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).filter(([name]) => name !== table));
}

/** Waits until no table but the counters table has had a write for CONSUMER_QUIET_MS. */
export async function consumerDrain(
  proxy: ItemRateProxy,
  countersTable: string,
  loadEnd: number,
  maxMs = CONSUMER_DRAIN_MAX_MS,
): Promise<{ drainSeconds: number; drained: boolean }> {
  for (;;) {
    const last = Math.max(
      loadEnd,
      ...Object.entries(proxy.snapshot().lastWriteAt)
        .filter(([table]) => table !== countersTable)
        .map(([, at]) => at),
    );
    const now = performance.now();
    if (now - last >= CONSUMER_QUIET_MS) return { drainSeconds: (last - loadEnd) / 1000, drained: true };
    if (now - loadEnd > maxMs) return { drainSeconds: (now - loadEnd) / 1000, drained: false };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The server's error log lines: how many, the first few, and how many of each message and error name. */
export function errorLines(stderr: string): {
  lines: number;
  first: string[];
  kinds: Record<string, number>;
} {
  const lines = stderr.split('\n').filter((line) => /"level":"(ERROR|CRITICAL)"/.test(line));
  const kinds: Record<string, number> = {};
  const entry = z.object({
    message: z.string().optional(),
    error: z.object({ name: z.string().optional() }).optional(),
  });
  for (const line of lines) {
    let kind = '(not JSON)';
    try {
      const parsed = entry.safeParse(JSON.parse(line));
      if (parsed.success)
        kind = `${parsed.data.message ?? '(no message)'}: ${parsed.data.error?.name ?? '(no error)'}`;
    } catch {
      // Counted as not JSON.
    }
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return { lines: lines.length, first: lines.slice(0, 3).map((line) => line.slice(0, 600)), kinds };
}

/** The lines of a file (the dead-letter file), 0 when it does not exist. */
export function countLines(file: string): number {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '').length;
  } catch {
    return 0;
  }
}
