/**
 * The phases of `npm run bench:shards`: an in-memory engine, the item-rate proxy in front of it, the
 * local server (its own process, the code of `codeRoot`) behind the proxy, and signed load from the
 * shared driver. A warm-up, a phase with the limit lifted, one phase per shard count N, the unlimited
 * phase again, then the consumer's catch-up with the limit lifted.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CounterClient } from '../client/index.ts';
import { type Engine, startEngine } from '../lib/local/engine.ts';
import type * as ServerProcess from '../test/support/server-process.ts';
import { type ItemRateLimit, ItemRateProxy } from './item-rate-proxy.ts';
import { LoadDriver } from './load-driver.ts';
import {
  checkExact,
  consumerDrain,
  counterItems,
  countLines,
  createCounter,
  errorLines,
  historyLength,
  without,
} from './shards-checks.ts';
import type { Load, ShardRow, ShardsReport } from './shards-document.ts';
import { incrementLoad } from './shards-load.ts';
import { ratio } from './stats.ts';

/** After the last phase, with the limit lifted, for the consumer to work off its backlog. */
const FINAL_DRAIN_MAX_MS = 180_000;

export interface PhaseSettings {
  seconds: number;
  shards: number[];
  limit: ItemRateLimit;
  /** Send `Prefer: return=minimal` on every increment. */
  minimal: boolean;
  connections: number;
}

/** What the phases found: the report but for its provenance and settings. */
export type PhasesResult = Pick<ShardsReport, 'unlimited' | 'rows' | 'deadLetters' | 'serverErrors'>;

export async function runPhases(
  settings: PhaseSettings,
  codeRoot: string,
  log: (line: string) => void,
): Promise<PhasesResult> {
  const bench = await ShardsBench.start(settings, codeRoot, log);
  try {
    await bench.warmUp();
    const before = await bench.unlimited('before');
    const rows: ShardRow[] = [];
    for (const shards of settings.shards) rows.push(await bench.shardPhase(shards));
    const one = rows.find((row) => row.shards === 1)?.acknowledgedPerSecond ?? Number.NaN;
    for (const row of rows) row.againstOneShard = ratio(row.acknowledgedPerSecond, one);
    const after = await bench.unlimited('after');
    await bench.catchUp(rows);
    return {
      unlimited: {
        before,
        after,
        okPerSecond: (before.acknowledged + after.acknowledged) / (before.seconds + after.seconds),
      },
      rows,
      ...bench.serverRecord(),
    };
  } finally {
    await bench.stop();
  }
}

class ShardsBench {
  private readonly run = randomUUID().slice(0, 6);

  private constructor(
    private readonly settings: PhaseSettings,
    private readonly engine: Engine,
    private readonly proxy: ItemRateProxy,
    private readonly server: ServerProcess.ServerProcess,
    private readonly driver: LoadDriver,
    private readonly client: CounterClient,
    private readonly log: (line: string) => void,
  ) {}

  static async start(settings: PhaseSettings, codeRoot: string, log: (line: string) => void) {
    // The code root's own server-process.ts, so bin/local.ts and the handlers it loads are the commit's.
    const { startServer }: typeof ServerProcess = await import(
      pathToFileURL(path.join(codeRoot, 'test', 'support', 'server-process.ts')).href
    );
    const engine = await startEngine({});
    const proxy = await new ItemRateProxy(engine.endpoint, undefined).start();
    const server = await startServer({ env: { DYNAMODB_ENDPOINT: proxy.url } });
    const client = new CounterClient({
      url: server.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const driver = new LoadDriver(server.url, settings.connections);
    return new ShardsBench(settings, engine, proxy, server, driver, client, log);
  }

  async stop(): Promise<void> {
    this.driver.close();
    await this.server.stop();
    await this.proxy.stop();
    await this.engine.stop();
  }

  /** The handlers' first calls, the 429 path and the JIT, on a counter of its own. */
  async warmUp(): Promise<void> {
    this.proxy.setLimit(this.settings.limit);
    const name = `shards-warmup-${this.run}`;
    await createCounter(this.client, name, 1);
    await this.load(name, Math.min(2, this.settings.seconds));
  }

  /** The same load on a plain counter with the limit lifted: what this machine can do at all. */
  async unlimited(label: string): Promise<Load> {
    this.proxy.setLimit(undefined);
    const name = `shards-unlimited-${label}-${this.run}`;
    await createCounter(this.client, name, 1);
    const load = await this.load(name, this.settings.seconds);
    await checkExact(this.client, name, load);
    this.log(`no limit (${label}): ${(load.acknowledged / load.seconds).toFixed(0)} increments/s`);
    await consumerDrain(this.proxy, '', performance.now());
    this.proxy.setLimit(this.settings.limit);
    return load;
  }

  /** A fresh counter of N shards under the saturating load, its value checked, its consumer waited for. */
  async shardPhase(shards: number): Promise<ShardRow> {
    const name = `shards-${shards}-${this.run}`;
    await createCounter(this.client, name, shards);
    this.proxy.resetCounts();
    const load = await this.load(name, this.settings.seconds);
    const loadEnd = performance.now();
    // Before the GET that checks the value, so the read units counted are the increments' own.
    const inPhase = this.proxy.snapshot();
    const finalValue = await checkExact(this.client, name, load);
    const items = counterItems(inPhase, name);
    const drain = await consumerDrain(this.proxy, items.table, loadEnd);
    const afterDrain = this.proxy.snapshot();
    const acknowledgedPerSecond = load.acknowledged / load.seconds;
    const ceilingPerSecond = shards * this.settings.limit.writesPerSecond;
    const answered =
      load.acknowledged + load.throttled + Object.values(load.other).reduce((sum, count) => sum + count, 0);
    const row: ShardRow = {
      shards,
      counter: name,
      ceilingPerSecond,
      load,
      acknowledgedPerSecond,
      okPerSecond: load.ok / load.seconds,
      throttledShare: load.throttled / answered,
      ofCeiling: ratio(acknowledgedPerSecond, ceilingPerSecond),
      againstOneShard: Number.NaN,
      finalValue,
      writesForwarded: items.units.reduce((sum, units) => sum + units, 0),
      readsForwarded: items.readUnits,
      engineRefusals: inPhase.engineRefusals,
      throttledReads: inPhase.throttledReads,
      shardItems: {
        written: items.units.length,
        minUnits: items.units.length === 0 ? 0 : Math.min(...items.units),
        maxUnits: items.units.length === 0 ? 0 : Math.max(...items.units),
      },
      consumer: {
        forwardedWrites: without(afterDrain.forwardedWrites, items.table),
        throttledWrites: without(afterDrain.throttledWrites, items.table),
        ...drain,
        historyEntries: await historyLength(this.client, name),
        historyEntriesAtEnd: Number.NaN,
      },
    };
    this.logRow(row);
    return row;
  }

  /** With the limit lifted, the consumer works off what the limit held back; then every history is counted. */
  async catchUp(rows: ShardRow[]): Promise<void> {
    this.proxy.setLimit(undefined);
    const caughtUp = await consumerDrain(this.proxy, '', performance.now(), FINAL_DRAIN_MAX_MS);
    this.log(
      `consumer ${caughtUp.drained ? 'caught up' : 'still writing'} ${caughtUp.drainSeconds.toFixed(0)} s after the last phase`,
    );
    for (const row of rows) row.consumer.historyEntriesAtEnd = await historyLength(this.client, row.counter);
  }

  /** The dead letters and the error lines the server left, read before it stops. */
  serverRecord(): Pick<ShardsReport, 'deadLetters' | 'serverErrors'> {
    return {
      deadLetters: countLines(path.join(this.server.dataDir, 'dead-letters.jsonl')),
      serverErrors: errorLines(this.server.stderr()),
    };
  }

  private load(name: string, seconds: number): Promise<Load> {
    const { connections, minimal } = this.settings;
    return incrementLoad(this.driver, { name, seconds, connections, minimal });
  }

  private logRow(row: ShardRow): void {
    const { load, consumer: drain } = row;
    this.log(
      `N=${row.shards}: ${row.acknowledgedPerSecond.toFixed(1)} increments/s (ceiling ${row.ceilingPerSecond}), ` +
        `${load.ok} x 200, ${load.noContent} x 204 (${load.preferenceApplied} preferred), ${load.throttled} x 429, ` +
        `other ${JSON.stringify(load.other)}, value ${row.finalValue} = ${load.acknowledged} acknowledged; ` +
        `${row.shardItems.written} shard items written, ${row.readsForwarded} read units forwarded; ` +
        `history ${drain.historyEntries}/${load.acknowledged + 1} entries ` +
        `${drain.drained ? `${drain.drainSeconds.toFixed(1)} s after` : `still behind after ${drain.drainSeconds.toFixed(0)} s`}`,
    );
    if (row.writesForwarded !== load.acknowledged)
      this.log(
        `note: ${row.writesForwarded} write units reached the counter's items for ${load.acknowledged} acknowledged; ` +
          `the engine refused ${JSON.stringify(row.engineRefusals)}`,
      );
  }
}
