/**
 * Sharded counters' benchmark: how increment throughput grows with the number of shards N.
 *
 *   npm run bench:shards [-- --quick] [--seconds S] [--shards 1,2,4,8,16] [--limit W] [--burst B]
 *                           [--read-limit R] [--minimal] [--connections C] [--out-dir DIR]
 *
 * DynamoDB takes about 1,000 write units per second on one item; the local engine has no such limit,
 * so this harness puts one in front of it, scaled down: `bench/item-rate-proxy.ts`, a token bucket per
 * (table, partition key) that answers ProvisionedThroughputExceededException over the limit, as
 * DynamoDB does. It starts a local engine (a temporary file), the proxy in front of it, and the local
 * server (`bin/local.ts`, in its own process, as the integration tests start it) with DYNAMODB_ENDPOINT
 * at the proxy. Then, for each N, it creates a fresh counter with N shards (`PUT {"value": 0, "shards": N}`),
 * drives `C` keep-alive connections of signed `POST /counters/{name}` for S seconds (each connection
 * sends its next request as soon as the last is answered, 429 or not: a saturating load), and checks
 * that the counter's final value equals the number of acknowledged increments (200 and 204 answers)
 * exactly; it stops loudly if not. `--minimal` sends `Prefer: return=minimal`, so a sharded counter's
 * increment answers 204 without reading its N shards; without it, each increment of a sharded counter
 * reads all N for its answer (and answers 204 if that read fails after the write).
 * Before and after the shard phases, the same load on a plain counter with the limit lifted measures
 * what this machine can do at all, so a reader can tell a limit-bound figure from a CPU-bound one.
 *
 * A full run (default settings, with or without `--read-limit` and `--minimal`) adds itself to
 * docs/benchmarks/shards.json, replacing the run of the same settings, and draws shards.md and
 * shards.svg again from every run there; `--quick` (N in 1 and 4, 3 s each), a custom `--shards` list,
 * `--seconds` and the like write to a temporary directory unless `--out-dir` is given.
 * Not part of `npm test`: it takes a couple of minutes and its figures depend on the machine.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SignatureV4 } from '@smithy/signature-v4';
import { z } from 'zod';
import { CounterClient, type RawAnswer } from '../client/index.ts';
import { startEngine } from '../lib/local/engine.ts';
import { NodeSha256 } from '../lib/local/node-sha256.ts';
import type * as ServerProcess from '../test/support/server-process.ts';
import { type ItemRateCounts, type ItemRateLimit, ItemRateProxy } from './item-rate-proxy.ts';
import { changedDuringRun, codeVersion, engineVersion, formatAsTheRepositoryDoes } from './provenance.ts';
import { formatMs, formatRatio, markdownTable, ratio, type Summary, summarize } from './stats.ts';
import { escapeXml } from './svg.ts';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** DynamoDB's per-item (per-partition) write ceiling, for the reader's scale. */
const AWS_ITEM_WRITE_UNITS_PER_SECOND = 1000;
/** And its read ceiling: three times the write one. */
const AWS_ITEM_READ_UNITS_PER_SECOND = 3000;
const FULL_SHARDS = [1, 2, 4, 8, 16];
const QUICK_SHARDS = [1, 4];
const DEFAULT_LIMIT: ItemRateLimit = { writesPerSecond: 5, burst: 5 };
/** The history consumer is done with a phase once it has tried no write for this long. */
const CONSUMER_QUIET_MS = 3000;
const CONSUMER_DRAIN_MAX_MS = 30_000;
/** After the last phase, with the limit lifted, for the consumer to work off its backlog. */
const FINAL_DRAIN_MAX_MS = 180_000;

const USAGE = `npm run bench:shards [-- --quick] [--seconds S] [--shards LIST] [--limit W] [--burst B]
                           [--read-limit R] [--minimal] [--connections C] [--out-dir DIR]

  --quick          N in ${QUICK_SHARDS.join(', ')}, 3 s each: a smoke run, written to a temporary directory
  --seconds S      seconds of load per phase (default 10)
  --shards LIST    the shard counts, comma-separated, each 1..32 (default ${FULL_SHARDS.join(',')})
  --limit W        write units per second per item the proxy allows (default ${DEFAULT_LIMIT.writesPerSecond})
  --burst B        units an idle item may take at once (default ${DEFAULT_LIMIT.burst})
  --read-limit R   also limit reads to R units per second per item (DynamoDB: about 3,000, three
                   times its write limit); default: reads unlimited
  --minimal        send \`Prefer: return=minimal\` on every increment: 204 without the counter, so a
                   sharded counter is not read after its increment (default: no Prefer, 200 and the
                   counter, read from all N shards)
  --connections C  concurrent keep-alive connections (default 64)
  --out-dir DIR    where shards.json, .md and .svg go (default docs/benchmarks for a full run, whose
                   settings are the defaults but for --read-limit and --minimal; a temporary
                   directory otherwise); a run replaces the run of the same settings in shards.json
  --working-tree   serve the working tree's code, uncommitted changes and all (default: a snapshot of
                   HEAD, so the figures belong to one commit while others edit the tree)`;

class UsageError extends Error {
  constructor(message: string) {
    super(`${message}\n\n${USAGE}`);
    this.name = 'UsageError';
  }
}

interface Options {
  quick: boolean;
  seconds: number;
  shards: number[];
  limit: ItemRateLimit;
  /** Send `Prefer: return=minimal` on every increment. */
  minimal: boolean;
  connections: number;
  outDir: string | undefined;
  workingTree: boolean;
  /** Default settings but for --read-limit and --minimal: only such a run joins the published figures. */
  publishable: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  let quick = false;
  let seconds: number | undefined;
  let shards: number[] | undefined;
  let writesPerSecond: number | undefined;
  let burst: number | undefined;
  let readsPerSecond: number | undefined;
  let minimal = false;
  let connections: number | undefined;
  let outDir: string | undefined;
  let workingTree = false;
  const positive = (flag: string, text: string | undefined) => {
    if (text === undefined || !/^[1-9][0-9]*$/.test(text))
      throw new UsageError(`${flag} needs a whole number`);
    return Number(text);
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    switch (flag) {
      case '--quick':
        quick = true;
        break;
      case '--seconds':
        seconds = positive(flag, argv[++i]);
        break;
      case '--shards': {
        const list = (argv[++i] ?? '').split(',').map((text) => positive(flag, text.trim()));
        if (list.some((n) => n > 32)) throw new UsageError('--shards takes counts from 1 to 32');
        shards = [...new Set(list)].sort((a, b) => a - b);
        break;
      }
      case '--limit':
        writesPerSecond = positive(flag, argv[++i]);
        break;
      case '--burst':
        burst = positive(flag, argv[++i]);
        break;
      case '--read-limit':
        readsPerSecond = positive(flag, argv[++i]);
        break;
      case '--minimal':
        minimal = true;
        break;
      case '--connections':
        connections = positive(flag, argv[++i]);
        break;
      case '--out-dir': {
        const value = argv[++i];
        if (value === undefined) throw new UsageError('--out-dir needs a directory');
        outDir = value;
        break;
      }
      case '--working-tree':
        workingTree = true;
        break;
      case '--help':
        throw new UsageError('usage');
      default:
        throw new UsageError(`unknown argument ${flag}`);
    }
  }
  const publishable =
    !quick &&
    seconds === undefined &&
    shards === undefined &&
    writesPerSecond === undefined &&
    burst === undefined &&
    connections === undefined;
  return {
    quick,
    seconds: seconds ?? (quick ? 3 : 10),
    shards: shards ?? (quick ? QUICK_SHARDS : FULL_SHARDS),
    limit: {
      writesPerSecond: writesPerSecond ?? DEFAULT_LIMIT.writesPerSecond,
      burst: burst ?? DEFAULT_LIMIT.burst,
      readsPerSecond,
    },
    minimal,
    connections: connections ?? 64,
    outDir,
    workingTree,
    publishable,
  };
}

/** One load phase's answers, as the client saw them. */
interface Load {
  seconds: number;
  /** Increments acknowledged: 200 and 204 answers, each an applied change. */
  acknowledged: number;
  /** 200 answers: the change, and the counter read after it. */
  ok: number;
  /** 204 answers: the change, without the counter. */
  noContent: number;
  /**
   * Of the 204s, those with `Preference-Applied: return=minimal` (asked for by --minimal); the others
   * are increments of a sharded counter whose read after the change failed.
   */
  preferenceApplied: number;
  throttled: number;
  /** Answers other than 200, 204 and 429, by status (0: no answer). */
  other: Record<string, number>;
  /** The first few of those answers' bodies, to say what they were. */
  otherBodies: string[];
  /** 429s without a Retry-After header (the contract promises one). */
  throttledWithoutRetryAfter: number;
  /** The 429 problems' `type`s, by count. */
  throttledTypes: Record<string, number>;
  /** Of the acknowledged answers, 200 and 204 alike. */
  acknowledgedLatencyMs: Summary;
  throttledLatencyMs: Summary;
}

interface ShardRow {
  shards: number;
  counter: string;
  /** N x the per-item limit: what DynamoDB (here, the proxy) lets through at most. */
  ceilingPerSecond: number;
  load: Load;
  /** Acknowledged increments (200 and 204) per second. */
  acknowledgedPerSecond: number;
  /** 200 answers per second: increments answered with the counter read after them. */
  okPerSecond: number;
  /** 429s among all answers. */
  throttledShare: number;
  /** acknowledgedPerSecond / ceilingPerSecond. */
  ofCeiling: number;
  /** acknowledgedPerSecond / the N = 1 row's, in this run. */
  againstOneShard: number;
  finalValue: number;
  /** Write units the proxy forwarded to the counter's items in the phase; `acknowledged` if each took one UpdateItem. */
  writesForwarded: number;
  /** Read units the proxy forwarded from the counter's items in the phase (only counted with --read-limit). */
  readsForwarded: number;
  /** Forwarded writes (of any table) the engine refused in the phase, by error type. */
  engineRefusals: Record<string, number>;
  /** Reads the proxy refused in the phase, by table (only with --read-limit). */
  throttledReads: Record<string, number>;
  /** Write units per item of the counter in the phase: how the increments spread over the shards. */
  shardItems: { written: number; minUnits: number; maxUnits: number };
  /** Writes of the other tables (the history consumer's) in the phase and until it went quiet. */
  consumer: {
    forwardedWrites: Record<string, number>;
    throttledWrites: Record<string, number>;
    /** Seconds from the end of the load to the consumer's last write attempt before 3 s of none; capped at 30. */
    drainSeconds: number;
    drained: boolean;
    /** The counter's history entries when the wait ended, against its acknowledged + 1 changes (the PUT too). */
    historyEntries: number;
    /** The same at the end of the run, once the consumer had caught up with the limit lifted. */
    historyEntriesAtEnd: number;
  };
}

interface Machine {
  cpus: number;
  cpuModel: string;
  totalMemoryBytes: number;
  node: string;
  platform: string;
  engine: string;
  /** os.loadavg(): on 2 cores, above 2 means others were busy too. */
  loadAverageAtStart: number[];
  loadAverageAtEnd: number[];
}

export interface ShardsReport {
  generatedAt: string;
  finishedAt: string;
  command: string;
  quick: boolean;
  code: {
    commit: string;
    /** `HEAD snapshot`: the commit's files (git archive); `working tree`: with `uncommittedChanges`. */
    served: 'HEAD snapshot' | 'working tree';
    uncommittedChanges: string[];
    headAtEnd?: string | undefined;
  };
  machine: Machine;
  settings: {
    connections: number;
    secondsPerPhase: number;
    limit: ItemRateLimit;
    /** `Prefer: return=minimal` on every increment. */
    minimal: boolean;
    awsItemWriteUnitsPerSecond: number;
    awsItemReadUnitsPerSecond: number;
  };
  /** The same load on a plain counter with no limit, before and after the shard phases. */
  unlimited: { before: Load; after: Load; okPerSecond: number };
  rows: ShardRow[];
  /** Lines in the local server's dead-letter file at the end (history batches given up on). */
  deadLetters: number;
  /**
   * The local server's error log lines (POWERTOOLS_LOG_LEVEL=ERROR): how many, the first few, and
   * (runs since the count was added) how many of each message and error name.
   */
  serverErrors: { lines: number; first: string[]; kinds?: Record<string, number> };
}

/** docs/benchmarks/shards.json: every run of the published settings, one per settings. */
export interface ShardsDocument {
  runs: ShardsReport[];
}

const started = performance.now();
const log = (line: string) =>
  process.stderr.write(`[bench:shards ${((performance.now() - started) / 1000).toFixed(0)}s] ${line}\n`);

class LoadDriver {
  private readonly agent: Agent;
  private readonly signer: SignatureV4;
  private readonly url: URL;

  constructor(
    baseUrl: string,
    private readonly connections: number,
    private readonly minimal: boolean,
  ) {
    this.url = new URL(baseUrl);
    this.agent = new Agent({ keepAlive: true, maxSockets: connections });
    this.signer = new SignatureV4({
      service: 'execute-api',
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      sha256: NodeSha256,
    });
  }

  destroy(): void {
    this.agent.destroy();
  }

  /** `connections` loops of signed `POST /counters/{name}`, each sending its next as the last is answered. */
  async increments(name: string, seconds: number): Promise<Load> {
    const path = `/counters/${encodeURIComponent(name)}`;
    const acknowledgedLatencies: number[] = [];
    let ok = 0;
    let noContent = 0;
    let preferenceApplied = 0;
    const throttledLatencies: number[] = [];
    const other: Record<string, number> = {};
    const otherBodies: string[] = [];
    const throttledTypes: Record<string, number> = {};
    let throttledWithoutRetryAfter = 0;
    const begun = performance.now();
    const deadline = begun + seconds * 1000;
    const worker = async () => {
      while (performance.now() < deadline) {
        const signed = await this.signer.sign({
          method: 'POST',
          protocol: 'http:',
          hostname: this.url.hostname,
          port: Number(this.url.port),
          path,
          query: {},
          headers: { host: this.url.host, ...(this.minimal ? { prefer: 'return=minimal' } : {}) },
        });
        const sent = performance.now();
        const answer = await this.post(path, signed.headers);
        const took = performance.now() - sent;
        if (answer.status === 200 || answer.status === 204) {
          acknowledgedLatencies.push(took);
          if (answer.status === 200) ok++;
          else {
            noContent++;
            if (answer.preferenceApplied) preferenceApplied++;
          }
        } else if (answer.status === 429) {
          throttledLatencies.push(took);
          if (answer.retryAfter === undefined) throttledWithoutRetryAfter++;
          const type = problemType(answer.body);
          throttledTypes[type] = (throttledTypes[type] ?? 0) + 1;
        } else {
          other[String(answer.status)] = (other[String(answer.status)] ?? 0) + 1;
          if (otherBodies.length < 5) otherBodies.push(`${answer.status} ${answer.body.slice(0, 300)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: this.connections }, () => worker()));
    return {
      seconds: (performance.now() - begun) / 1000,
      acknowledged: acknowledgedLatencies.length,
      ok,
      noContent,
      preferenceApplied,
      throttled: throttledLatencies.length,
      other,
      otherBodies,
      throttledWithoutRetryAfter,
      throttledTypes,
      acknowledgedLatencyMs: summarize(acknowledgedLatencies),
      throttledLatencyMs: summarize(throttledLatencies),
    };
  }

  private post(
    path: string,
    headers: Record<string, string>,
  ): Promise<{ status: number; retryAfter: string | undefined; preferenceApplied: boolean; body: string }> {
    return new Promise((resolve) => {
      const req = request(
        {
          agent: this.agent,
          hostname: this.url.hostname,
          port: this.url.port,
          method: 'POST',
          path,
          headers,
        },
        (res) => {
          const status = res.statusCode ?? 0;
          const retryAfter = res.headers['retry-after'];
          const preferenceApplied = /(^|[\s,;])return=minimal([\s,;]|$)/.test(
            String(res.headers['preference-applied'] ?? ''),
          );
          const chunks: Buffer[] = [];
          // Only refusals are read: their problem type says why.
          res.on('data', (chunk: Buffer) => {
            if (status !== 200 && status !== 204) chunks.push(chunk);
          });
          res.once('end', () =>
            resolve({ status, retryAfter, preferenceApplied, body: Buffer.concat(chunks).toString('utf8') }),
          );
          res.once('error', () =>
            resolve({ status: 0, retryAfter: undefined, preferenceApplied: false, body: '' }),
          );
        },
      );
      req.once('error', () =>
        resolve({ status: 0, retryAfter: undefined, preferenceApplied: false, body: '' }),
      );
      req.end();
    });
  }
}

function problemType(body: string): string {
  try {
    const parsed = z.object({ type: z.string() }).safeParse(JSON.parse(body));
    return parsed.success ? parsed.data.type : '(no type)';
  } catch {
    return '(not JSON)';
  }
}

const counterBody = z.object({ value: z.number(), shards: z.number().optional() });

function expectStatus(answer: RawAnswer, status: number, what: string): void {
  if (answer.status !== status)
    throw new Error(`${what}: expected ${status}, got ${answer.status} ${answer.text.slice(0, 400)}`);
}

/** Creates the counter with `shards` shards at 0; N = 1 is a plain counter, as before sharding existed. */
async function createCounter(client: CounterClient, name: string, shards: number): Promise<void> {
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

/** The counters table is the one holding the counter's own item; its shards are `<name>#<i>`. */
function counterItems(
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

function without(counts: Record<string, number>, table: string): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).filter(([name]) => name !== table));
}

/** Waits until no table but the counters table has had a write for CONSUMER_QUIET_MS. */
async function consumerDrain(
  proxy: ItemRateProxy,
  countersTable: string,
  loadEnd: number,
  maxMs = CONSUMER_DRAIN_MAX_MS,
) {
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

async function main(options: Options): Promise<void> {
  const generatedAt = new Date();
  const code = codeVersion(['functions', 'lib', 'bin', 'bench/item-rate-proxy.ts']);
  const loadAverageAtStart = os.loadavg();
  const run = randomUUID().slice(0, 6);
  log(
    `shards ${options.shards.join(',')}, ${options.seconds} s each, ${options.connections} connections, ` +
      `limit ${options.limit.writesPerSecond}/s per item (burst ${options.limit.burst})` +
      (options.limit.readsPerSecond === undefined
        ? ''
        : `, reads ${options.limit.readsPerSecond}/s per item`) +
      (options.minimal ? ', Prefer: return=minimal' : ''),
  );
  const codeRoot = options.workingTree ? REPO_ROOT : await snapshotOf(code.commit);
  // The snapshot's own server-process.ts, so bin/local.ts and the handlers it loads are the commit's.
  const { startServer }: typeof ServerProcess = await import(
    pathToFileURL(path.join(codeRoot, 'test', 'support', 'server-process.ts')).href
  );
  const engine = await startEngine({});
  const proxy = await new ItemRateProxy(engine.endpoint, undefined).start();
  const server = await startServer({ env: { DYNAMODB_ENDPOINT: proxy.url } });
  const driver = new LoadDriver(server.url, options.connections, options.minimal);
  const client = new CounterClient({
    url: server.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    // The handlers' first calls, the 429 path and the JIT, on a counter of its own.
    proxy.setLimit(options.limit);
    await createCounter(client, `shards-warmup-${run}`, 1);
    await driver.increments(`shards-warmup-${run}`, Math.min(2, options.seconds));

    const unlimited = async (label: string) => {
      proxy.setLimit(undefined);
      const name = `shards-unlimited-${label}-${run}`;
      await createCounter(client, name, 1);
      const load = await driver.increments(name, options.seconds);
      await checkExact(client, name, load);
      log(`no limit (${label}): ${(load.acknowledged / load.seconds).toFixed(0)} increments/s`);
      await consumerDrain(proxy, '', performance.now());
      proxy.setLimit(options.limit);
      return load;
    };
    const before = await unlimited('before');

    const rows: ShardRow[] = [];
    for (const shards of options.shards) {
      const name = `shards-${shards}-${run}`;
      await createCounter(client, name, shards);
      proxy.resetCounts();
      const load = await driver.increments(name, options.seconds);
      const loadEnd = performance.now();
      // Before the GET that checks the value, so the read units counted are the increments' own.
      const inPhase = proxy.snapshot();
      const finalValue = await checkExact(client, name, load);
      const items = counterItems(inPhase, name);
      const drain = await consumerDrain(proxy, items.table, loadEnd);
      const afterDrain = proxy.snapshot();
      const historyEntries = await historyLength(client, name);
      const acknowledgedPerSecond = load.acknowledged / load.seconds;
      const ceilingPerSecond = shards * options.limit.writesPerSecond;
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
          historyEntries,
          historyEntriesAtEnd: Number.NaN,
        },
      };
      rows.push(row);
      log(
        `N=${shards}: ${acknowledgedPerSecond.toFixed(1)} increments/s (ceiling ${ceilingPerSecond}), ` +
          `${load.ok} x 200, ${load.noContent} x 204 (${load.preferenceApplied} preferred), ${load.throttled} x 429, ` +
          `other ${JSON.stringify(load.other)}, value ${finalValue} = ${load.acknowledged} acknowledged; ` +
          `${items.units.length} shard items written, ${items.readUnits} read units forwarded; ` +
          `history ${historyEntries}/${load.acknowledged + 1} entries ` +
          `${drain.drained ? `${drain.drainSeconds.toFixed(1)} s after` : `still behind after ${drain.drainSeconds.toFixed(0)} s`}`,
      );
      if (row.writesForwarded !== load.acknowledged)
        log(
          `note: ${row.writesForwarded} write units reached the counter's items for ${load.acknowledged} acknowledged; ` +
            `the engine refused ${JSON.stringify(inPhase.engineRefusals)}`,
        );
    }

    const one = rows.find((row) => row.shards === 1)?.acknowledgedPerSecond ?? Number.NaN;
    for (const row of rows) row.againstOneShard = ratio(row.acknowledgedPerSecond, one);
    const after = await unlimited('after');
    // With the limit lifted, the consumer works off what the limit held back; then every history is counted.
    proxy.setLimit(undefined);
    const caughtUp = await consumerDrain(proxy, '', performance.now(), FINAL_DRAIN_MAX_MS);
    log(
      `consumer ${caughtUp.drained ? 'caught up' : 'still writing'} ${caughtUp.drainSeconds.toFixed(0)} s after the last phase`,
    );
    for (const row of rows) row.consumer.historyEntriesAtEnd = await historyLength(client, row.counter);
    const report: ShardsReport = {
      generatedAt: generatedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      command: `npm run bench:shards${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      quick: options.quick,
      code: {
        commit: code.commit,
        served: options.workingTree ? 'working tree' : 'HEAD snapshot',
        uncommittedChanges: options.workingTree ? code.uncommittedChanges : [],
        ...changedDuringRun(code),
      },
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? 'unknown',
        totalMemoryBytes: os.totalmem(),
        node: process.version,
        platform: `${os.platform()} ${os.release()} ${os.arch()}`,
        engine: engineVersion(),
        loadAverageAtStart,
        loadAverageAtEnd: os.loadavg(),
      },
      settings: {
        connections: options.connections,
        secondsPerPhase: options.seconds,
        limit: options.limit,
        minimal: options.minimal,
        awsItemWriteUnitsPerSecond: AWS_ITEM_WRITE_UNITS_PER_SECOND,
        awsItemReadUnitsPerSecond: AWS_ITEM_READ_UNITS_PER_SECOND,
      },
      unlimited: {
        before,
        after,
        okPerSecond: (before.acknowledged + after.acknowledged) / (before.seconds + after.seconds),
      },
      rows,
      deadLetters: countLines(path.join(server.dataDir, 'dead-letters.jsonl')),
      serverErrors: errorLines(server.stderr()),
    };
    // A published or chosen directory gathers runs of different settings; the temporary one holds this run.
    const gathers = options.outDir !== undefined || options.publishable;
    const outDir =
      options.outDir ??
      (options.publishable
        ? path.join(REPO_ROOT, 'docs', 'benchmarks')
        : path.join(os.tmpdir(), 'shards-bench'));
    await mkdir(outDir, { recursive: true });
    const files = {
      json: path.join(outDir, 'shards.json'),
      markdown: path.join(outDir, 'shards.md'),
      svg: path.join(outDir, 'shards.svg'),
    };
    const document = withRun(gathers ? readDocument(files.json) : { runs: [] }, report);
    const markdown = shardsMarkdown(document);
    await writeFile(files.json, `${JSON.stringify(document, null, 2)}\n`);
    await writeFile(files.markdown, markdown);
    await writeFile(files.svg, shardsChart(document));
    formatAsTheRepositoryDoes([files.json, files.markdown], log);
    process.stdout.write(`${markdown}\nwritten to ${outDir}/shards.{json,md,svg}\n`);
  } finally {
    driver.destroy();
    await server.stop();
    await proxy.stop();
    await engine.stop();
    if (codeRoot !== REPO_ROOT) await rm(codeRoot, { recursive: true, force: true });
  }
}

/** The commit's files in a temporary directory, with this checkout's node_modules. */
async function snapshotOf(commit: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'shards-code-'));
  const archive = execFileSync('git', ['archive', '--format=tar', commit], {
    cwd: REPO_ROOT,
    maxBuffer: 512 * 1024 * 1024,
  });
  execFileSync('tar', ['-x', '-C', dir], { input: archive });
  await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

/**
 * Every acknowledged increment (200 or 204) applied once, every refused one (429) not at all: the
 * value says so exactly. A 429 whose change was applied anyway shows as a value above the count.
 */
async function checkExact(client: CounterClient, name: string, load: Load): Promise<number> {
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

/** The settings that make two runs the same experiment: a new run replaces an old one of the same. */
function settingsKey(report: ShardsReport): string {
  const { settings } = report;
  return JSON.stringify([
    report.quick,
    settings.connections,
    settings.secondsPerPhase,
    settings.limit.writesPerSecond,
    settings.limit.burst,
    settings.limit.readsPerSecond ?? null,
    settings.minimal,
    report.rows.map((row) => row.shards),
  ]);
}

/** The runs in shards.json; a file of another shape (the single report before --minimal) starts afresh. */
function readDocument(file: string): ShardsDocument {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { runs: [] };
  }
  const parsed: unknown = JSON.parse(text);
  const runs =
    typeof parsed === 'object' && parsed !== null && 'runs' in parsed && Array.isArray(parsed.runs)
      ? (parsed.runs as ShardsReport[])
      : [];
  if (runs.length === 0) log(`${file} holds no runs of this format: it will hold this run only`);
  return { runs };
}

/** The document with this run in place of any of the same settings: write limit only first, then reads limited, then minimal. */
function withRun(document: ShardsDocument, report: ShardsReport): ShardsDocument {
  const key = settingsKey(report);
  const order = (run: ShardsReport) => [
    run.settings.limit.readsPerSecond ?? 0,
    run.settings.minimal ? 1 : 0,
    run.settings.limit.writesPerSecond,
  ];
  const runs = [...document.runs.filter((run) => settingsKey(run) !== key), report].sort((a, b) => {
    const [x, y] = [order(a), order(b)];
    for (let i = 0; i < x.length; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
    return a.generatedAt.localeCompare(b.generatedAt);
  });
  return { runs };
}

async function historyLength(client: CounterClient, name: string): Promise<number> {
  let entries = 0;
  for await (const _entry of client.history(name, { limit: 1000 })) entries++;
  return entries;
}

function errorLines(stderr: string): { lines: number; first: string[]; kinds: Record<string, number> } {
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

function countLines(file: string): number {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '').length;
  } catch {
    return 0;
  }
}

const percent = (share: number) => (Number.isFinite(share) ? `${(share * 100).toFixed(0)}%` : 'n/a');
const load = (values: readonly number[]) => values.map((value) => value.toFixed(2)).join(' / ');
const perSecond = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : 'n/a');

function tableCounts(counts: Record<string, number>): string {
  const entries = Object.entries(counts).filter(([, count]) => count > 0);
  return entries.length === 0 ? 'none' : entries.map(([table, count]) => `${table}: ${count}`).join(', ');
}

/** The run's settings in words, e.g. "write limit 5/s, read limit 15/s, Prefer: return=minimal". */
function runLabel(report: ShardsReport): string {
  const { limit, minimal } = report.settings;
  return [
    `write limit ${limit.writesPerSecond}/s`,
    limit.readsPerSecond === undefined ? 'reads unlimited' : `read limit ${limit.readsPerSecond}/s`,
    minimal ? '`Prefer: return=minimal`' : 'no Prefer',
  ].join(', ');
}

/** Whether some of the run's increments answered 204 because their read after the write failed. */
function readBackFell(report: ShardsReport): boolean {
  return report.rows.some((row) => row.load.noContent > row.load.preferenceApplied);
}

/** The chart's shorter label. */
function chartLabel(report: ShardsReport): string {
  const { limit, minimal } = report.settings;
  return `${limit.readsPerSecond === undefined ? 'reads unlimited' : `reads ${limit.readsPerSecond}/s`}${minimal ? ', Prefer: return=minimal' : ''}`;
}

function codeLine(report: ShardsReport): string {
  return (
    `commit \`${report.code.commit.slice(0, 12)}\`` +
    (report.code.headAtEnd === undefined
      ? ''
      : ` (HEAD moved to \`${report.code.headAtEnd.slice(0, 12)}\` during the run; the code measured is the starting commit's)`) +
    (report.code.served === 'HEAD snapshot'
      ? ', served from a snapshot of that commit (`git archive`), whatever else the working tree held'
      : report.code.uncommittedChanges.length === 0
        ? ', served from the working tree, which had no uncommitted changes in functions/, lib/ or bin/'
        : `, served from the working tree with uncommitted changes: ${report.code.uncommittedChanges.map((line) => `\`${line}\``).join(', ')}`)
  );
}

export function shardsMarkdown(document: ShardsDocument): string {
  const { runs } = document;
  const first = runs[0];
  if (first === undefined) return '# Sharded counters: increment throughput against N\n\nNo runs yet.\n';
  const settings = first.settings;
  const limit = settings.limit.writesPerSecond;
  const shardCounts = [...new Set(runs.flatMap((run) => run.rows.map((row) => row.shards)))].sort(
    (a, b) => a - b,
  );
  const summary = markdownTable(
    [
      'shards N',
      'ceiling N x limit',
      ...runs.map((run, index) => `run ${index + 1} (${chartLabel(run)}): increments/s (vs N = 1)`),
    ],
    shardCounts.map((shards) => [
      String(shards),
      `${shards * limit}/s`,
      ...runs.map((run) => {
        const row = run.rows.find((candidate) => candidate.shards === shards);
        return row === undefined
          ? 'n/a'
          : `${perSecond(row.acknowledgedPerSecond)} (${formatRatio(row.againstOneShard)})` +
              (readBackFell(run) ? `; 200s ${perSecond(row.okPerSecond)}/s` : '');
      }),
    ]),
  );
  return [
    '# Sharded counters: increment throughput against N',
    '',
    `${runs.length === 1 ? 'One run' : `${runs.length} runs`} of \`bench/shards.ts\` (per-item limits by \`bench/item-rate-proxy.ts\`), each on the code of one commit:`,
    '',
    ...runs.map(
      (run, index) =>
        `${index + 1}. **${runLabel(run)}**: \`${run.command}\`, ${run.generatedAt.slice(0, 16).replace('T', ' ')} UTC, commit \`${run.code.commit.slice(0, 12)}\`.`,
    ),
    '',
    'Regenerate one with its command: a full run (default settings, with or without `--read-limit R` and',
    '`--minimal`) replaces the run of the same settings in `docs/benchmarks/shards.json` and draws this file',
    'and `docs/benchmarks/shards.svg` again from every run there; `-- --quick` is a smoke run written to a',
    'temporary directory.',
    '',
    '![Acknowledged increments per second against the number of shards, for each run](shards.svg)',
    '',
    '## Summary',
    '',
    summary,
    '',
    ...runs.map((run, index) => {
      const top = run.rows.at(-1);
      return top === undefined
        ? ''
        : `- Run ${index + 1} (${runLabel(run)}): at N = ${top.shards}, ${perSecond(top.acknowledgedPerSecond)} increments/s, ` +
            `${formatRatio(top.againstOneShard)} its N = 1 and ${percent(top.ofCeiling)} of ${top.shards} x ${limit}/s` +
            (readBackFell(run)
              ? `; of them ${perSecond(top.okPerSecond)}/s answered 200 with the counter, the rest 204 (applied, not read).`
              : '.');
    }),
    '',
    'Increments per second are the **acknowledged** ones, 200 and 204 answers alike (each is an applied',
    'change; the final value checks it), and "vs N = 1" is against the N = 1 row of the same run, measured',
    "minutes apart on the same machine. N = 1 is a plain counter, whose increment's answer comes with its",
    'write (`ReturnValues`), so it reads nothing whatever the settings.',
    '',
    '## What is measured',
    '',
    `DynamoDB takes about ${AWS_ITEM_WRITE_UNITS_PER_SECOND.toLocaleString('en-US')} write units and ${AWS_ITEM_READ_UNITS_PER_SECOND.toLocaleString('en-US')} read units per second on one item (one`,
    'partition key); a counter that is one item can therefore take about that many increments per second,',
    "whatever the table's capacity. A sharded counter spreads its increments over N items, so its ceiling is",
    'N times that. The local engine has no per-item limit at all, so this benchmark puts one in front of it,',
    `scaled down: **${limit} write units per second per item, burst ${settings.limit.burst}**, and in the runs that say so`,
    '**a read limit per item** (GetItem 1 unit, 0.5 if eventually consistent; each item of TransactGetItems 2;',
    'reads get as many seconds of burst as writes). This is `bench/item-rate-proxy.ts`, a token bucket per',
    'table and partition key; over it, the proxy answers `ProvisionedThroughputExceededException` (a',
    "transaction: `TransactionCanceledException` with `ThrottlingError`) as DynamoDB does, the handlers' SDK",
    'retries it as throttling, and the API answers 429 with Retry-After. Scaled down, because this machine',
    `could not drive ${AWS_ITEM_WRITE_UNITS_PER_SECOND.toLocaleString('en-US')} increments per second per shard: with the limits lifted it managed about`,
    `${perSecond(Math.min(...runs.map((run) => run.unlimited.okPerSecond)))} to ${perSecond(Math.max(...runs.map((run) => run.unlimited.okPerSecond)))} increments/s in all (each run's own figure is in its section). On AWS, read the`,
    `ceiling column as N x ${AWS_ITEM_WRITE_UNITS_PER_SECOND.toLocaleString('en-US')}/s, and a read limit of R as ${AWS_ITEM_READ_UNITS_PER_SECOND.toLocaleString('en-US')}/s: the runs with reads limited keep`,
    "DynamoDB's ratio of three read units per write unit.",
    '',
    `Each item starts a phase with its burst in hand, so a phase may exceed its ceiling by N x ${settings.limit.burst} / ${settings.secondsPerPhase} s`,
    `(${((settings.limit.burst / settings.secondsPerPhase / limit) * 100).toFixed(0)}% of it).`,
    '',
    `For each N, a fresh counter with N shards, then ${settings.connections} keep-alive connections sending signed`,
    `\`POST /counters/{name}\` (+1) for ${settings.secondsPerPhase} s, each connection sending its next request as soon as the last is`,
    'answered, 429 or not: a saturating load, so the acknowledged rate is what the limits let through and',
    'the 429 share is the refused excess (it depends on the load, not only on N). Afterwards',
    '`GET /counters/{name}` must equal the number of acknowledged increments (200 and 204) exactly: an',
    'increment answered 429 whose change was applied anyway would show as a value above it. The run stops',
    'if the two differ. They were equal for every N of every run below.',
    '',
    '**What a sharded increment reads.** Without `Prefer`, an increment of a sharded counter answers 200',
    'with the counter read after the write: one `TransactGetItems` of all N items (2 read units on each),',
    'tried twice, then one consistent `GetItem` per item (1 unit each). Every increment thus reads every',
    'item: under a read limit of R units per item per second, the counter can answer at most about R / 2',
    "to R such reads per second, whatever N (fewer as N grows: the fallback's N GetItems take their units",
    "one by one, so a read refused on one item still spends the others'). When that read fails after the",
    'write, the increment answers 204 (applied, not read) since commit `a7ae167` (before, 429 although the',
    'write was applied); it answers only once the read has failed, SDK retries included. With',
    '`Prefer: return=minimal` (`--minimal`) the increment answers 204 and reads nothing.',
    '',
    ...runs.flatMap((run, index) => runSection(run, index + 1)),
    '## Where and how',
    '',
    `- Machine: ${first.machine.cpus} cores (${first.machine.cpuModel}), ${first.machine.platform}, Node ${first.machine.node};`,
    "  **shared** with other engineers' runs and benchmarks (each run's load average is in its section; on",
    `  ${first.machine.cpus} cores, above ${first.machine.cpus} means others were busy too).`,
    `- Engine: ${first.machine.engine}, in a temporary file, started by \`startEngine({})\`; the local server`,
    '  (`bin/local.ts`, its own process, started as the integration tests start it) reaches it through the proxy',
    "  (`DYNAMODB_ENDPOINT`). Client, proxy, server, stream consumer and engine share the machine's cores.",
    "- The absolute rates say little about AWS: they are this machine's and these scaled-down limits'. What",
    '  carries over are the **ratios**: against N = 1 measured in the same run, and against N x limit.',
    '',
  ].join('\n');
}

/** One run's section: how it was made, its table, its notes and its history consumer. */
function runSection(report: ShardsReport, number: number): string[] {
  const { settings, rows } = report;
  const limit = settings.limit.writesPerSecond;
  const readsLimited = settings.limit.readsPerSecond !== undefined;
  const top = rows.at(-1);
  const table = markdownTable(
    [
      'shards N',
      'ceiling N x limit',
      'increments/s (200 + 204)',
      'of ceiling',
      'vs N = 1',
      '200 / 204 / 429 answers',
      '200s/s',
      '429 share',
      'p50',
      'p99',
      'p50 (429)',
      'final value = 200s + 204s',
      'shard items written (min-max units)',
      ...(readsLimited ? ["read units of the counter's items (refused reads)"] : []),
    ],
    rows.map((row) => [
      String(row.shards),
      `${row.ceilingPerSecond}/s`,
      perSecond(row.acknowledgedPerSecond),
      percent(row.ofCeiling),
      formatRatio(row.againstOneShard),
      `${row.load.ok} / ${row.load.noContent} / ${row.load.throttled}`,
      perSecond(row.okPerSecond),
      percent(row.throttledShare),
      formatMs(row.load.acknowledgedLatencyMs.median),
      formatMs(row.load.acknowledgedLatencyMs.p99),
      formatMs(row.load.throttledLatencyMs.median),
      `${row.finalValue} = ${row.load.acknowledged}`,
      `${row.shardItems.written} (${row.shardItems.minUnits}-${row.shardItems.maxUnits})`,
      ...(readsLimited
        ? [
            `${row.readsForwarded} (${Object.values(row.throttledReads).reduce((sum, count) => sum + count, 0)})`,
          ]
        : []),
    ]),
  );
  const consumerTable = markdownTable(
    [
      'shards N',
      'history entries / changes, after its phase',
      'at the end',
      'consumer write requests forwarded',
      'consumer write requests throttled',
      'consumer idle',
    ],
    rows.map((row) => [
      String(row.shards),
      // The PUT that created the counter is its first change.
      `${row.consumer.historyEntries} / ${row.load.acknowledged + 1}`,
      `${row.consumer.historyEntriesAtEnd} / ${row.load.acknowledged + 1}`,
      tableCounts(row.consumer.forwardedWrites),
      tableCounts(row.consumer.throttledWrites),
      row.consumer.drained
        ? `${row.consumer.drainSeconds.toFixed(1)} s after the load`
        : `still writing ${row.consumer.drainSeconds.toFixed(0)} s after`,
    ]),
  );
  const other = rows.filter((row) => Object.keys(row.load.other).length > 0);
  const missingRetryAfter = rows.reduce((sum, row) => sum + row.load.throttledWithoutRetryAfter, 0);
  const types = new Map<string, number>();
  for (const row of rows)
    for (const [type, count] of Object.entries(row.load.throttledTypes))
      types.set(type, (types.get(type) ?? 0) + count);
  const noContent = rows.reduce((sum, row) => sum + row.load.noContent, 0);
  const preferred = rows.reduce((sum, row) => sum + row.load.preferenceApplied, 0);
  const unlimited = report.unlimited;
  const sharded = rows.filter((row) => row.shards > 1);
  const okRange =
    sharded.length === 0
      ? ''
      : `${perSecond(Math.min(...sharded.map((row) => row.okPerSecond)))} to ${perSecond(Math.max(...sharded.map((row) => row.okPerSecond)))}`;
  return [
    `## Run ${number}: ${runLabel(report)}`,
    '',
    `- Command: \`${report.command}\``,
    `- Run ${report.generatedAt} to ${report.finishedAt}, ${codeLine(report)}.`,
    `- Load: ${settings.connections} connections, ${settings.secondsPerPhase} s per N, ${settings.minimal ? '`Prefer: return=minimal` on every increment' : 'no `Prefer` header'};` +
      ` per item ${limit} write units/s (burst ${settings.limit.burst})` +
      (readsLimited ? ` and ${settings.limit.readsPerSecond} read units/s.` : ', reads unlimited.') +
      ` Machine load average (1 / 5 / 15 min) at start ${load(report.machine.loadAverageAtStart)}, at end ${load(report.machine.loadAverageAtEnd)}.`,
    `- With no limit (a plain counter, the proxy letting everything through): ${perSecond(unlimited.before.acknowledged / unlimited.before.seconds)} increments/s before the shard phases, ` +
      `${perSecond(unlimited.after.acknowledged / unlimited.after.seconds)} after; p50 ${formatMs(unlimited.before.acknowledgedLatencyMs.median)} / ${formatMs(unlimited.after.acknowledgedLatencyMs.median)}. ` +
      "Where N x limit nears this, the figure is this machine's, not the limit's.",
    '',
    table,
    '',
    top === undefined
      ? ''
      : `With ${top.shards} shards the counter acknowledged ${formatRatio(top.againstOneShard)} the increments per second of one shard, ` +
        `${percent(top.ofCeiling)} of its ceiling of ${top.shards} x ${limit}/s.` +
        (settings.minimal || sharded.every((row) => row.load.noContent === 0)
          ? ''
          : ` Answered with the counter (200): ${okRange} per second for N > 1; the other acknowledged increments answered 204, applied but not read.`),
    '',
    "- Latencies (p50, p99) are of the acknowledged answers, and include the SDK's own throttling retries",
    '  inside the handler (up to 3 attempts, within its retry quota); a 429 comes once those are spent,',
    '  so the 429 share varies from run to run far more than the acknowledged rate does.',
    noContent === 0
      ? '- 204 answers: none.'
      : `- 204 answers: ${noContent}, of which ${preferred} carried \`Preference-Applied: return=minimal\`` +
        (noContent - preferred === 0
          ? '.'
          : ` and ${noContent - preferred} did not (a sharded increment whose read after the write failed).`),
    `- 429 problem types: ${[...types].map(([type, count]) => `\`${type}\` ${count}`).join(', ') || 'none'}; ` +
      `429s without Retry-After: ${missingRetryAfter}.`,
    ...rows
      .filter((row) => Object.keys(row.throttledReads).length > 0)
      .map(
        (row) =>
          `- N = ${row.shards}: read requests refused by the read limit: ${tableCounts(row.throttledReads)}.`,
      ),
    ...rows
      .filter((row) => Object.keys(row.engineRefusals).length > 0)
      .map(
        (row) =>
          `- N = ${row.shards}: forwarded writes the engine refused: ${tableCounts(row.engineRefusals)}.`,
      ),
    other.length === 0
      ? '- No answer other than 200, 204 and 429.'
      : `- Other answers: ${other.map((row) => `N = ${row.shards}: ${JSON.stringify(row.load.other)}`).join('; ')}; ` +
        `the first: ${other
          .flatMap((row) => row.load.otherBodies.slice(0, 1))
          .map((body) => `\`${body}\``)
          .join(', ')}.`,
    `- The local server logged ${report.serverErrors.lines} error lines (handlers and stream consumer, level ERROR)` +
      (report.serverErrors.lines === 0
        ? '.'
        : report.serverErrors.kinds === undefined
          ? '; the first few are in shards.json.'
          : `: ${Object.entries(report.serverErrors.kinds)
              .map(([kind, count]) => `${count} x \`${kind}\``)
              .join(', ')}; the first few are in shards.json.`),
    `- Dead-letter entries (history batches given up on) at the end of the run: ${report.deadLetters}.`,
    '',
    `### Run ${number}: the history consumer under the same limits`,
    '',
    "The limits apply to every table, as DynamoDB's do, so the stream consumer's writes to the history and",
    "rollups tables (all of one counter's entries share a partition key) meet them too. Its throttled writes",
    'are retried by the SDK and by the poller; they delay history, they do not touch the counter. Counted',
    `from the start of each phase until the consumer tried no write for ${CONSUMER_QUIET_MS / 1000} s (or ${CONSUMER_DRAIN_MAX_MS / 1000} s passed, when the`,
    'next phase began with its backlog still queued). "At the end": after the last phase and the unlimited',
    'phase, with the limits lifted until the consumer had written nothing for 3 s; each history should then',
    'hold exactly one entry per change (the PUT that created the counter and every acknowledged increment).',
    '',
    consumerTable,
    '',
  ];
}

const CHART_COLOURS = ['#3f6fb5', '#e08a00', '#2e7d32', '#8e24aa', '#00838f'];

/** Label heights spread so that none overlaps the next, keeping each as near its own value as can be. */
function spreadLabels(wanted: number[], gap: number): number[] {
  const order = wanted.map((at, index) => ({ at, index })).sort((a, b) => a.at - b.at);
  const placed = new Array<number>(wanted.length);
  let previous = Number.NEGATIVE_INFINITY;
  for (const { at, index } of order) {
    const y = Math.max(at, previous + gap);
    placed[index] = y;
    previous = y;
  }
  return placed.map((y) => y ?? 0);
}

/**
 * Acknowledged increments per second against N, one curve per run (and, for a run whose increments
 * fell back to 204 for want of a read, its 200s dotted), with the N x limit ceiling. The machine's
 * unlimited rate is stated, not drawn: it is far above the limits, and drawing it would flatten the curves.
 */
export function shardsChart(document: ShardsDocument): string {
  const { runs } = document;
  const width = 720;
  const height = 400;
  const margin = { left: 70, right: 250, top: 44, bottom: 50 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const limit = runs[0]?.settings.limit.writesPerSecond ?? 1;
  const maxN = Math.max(1, ...runs.flatMap((run) => run.rows.map((row) => row.shards)));
  const unlimitedRates = runs.map((run) => run.unlimited.okPerSecond).filter(Number.isFinite);
  const maxY = niceCeiling(
    Math.max(
      maxN * limit,
      ...runs.flatMap((run) => run.rows.map((row) => row.acknowledgedPerSecond)).filter(Number.isFinite),
    ) * 1.1,
  );
  const x = (n: number) => margin.left + (n / maxN) * plotWidth;
  const y = (value: number) => margin.top + plotHeight - (Math.max(0, value) / maxY) * plotHeight;
  const dates = [...new Set(runs.map((run) => run.generatedAt.slice(0, 10)))].join(', ');
  const title = `Acknowledged increments/s against shards N, ${limit} writes/s per item (${dates})`;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="10" y="22" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  const ticks = 5;
  for (let i = 0; i <= ticks; i++) {
    const value = (maxY / ticks) * i;
    parts.push(
      `<line x1="${margin.left}" y1="${y(value).toFixed(1)}" x2="${margin.left + plotWidth}" y2="${y(value).toFixed(1)}" stroke="#e0e0e0"/>`,
      `<text x="${margin.left - 8}" y="${(y(value) + 4).toFixed(1)}" text-anchor="end">${value.toFixed(0)}</text>`,
    );
  }
  for (const shards of new Set(runs.flatMap((run) => run.rows.map((row) => row.shards)))) {
    parts.push(
      `<text x="${x(shards).toFixed(1)}" y="${margin.top + plotHeight + 18}" text-anchor="middle">${shards}</text>`,
    );
  }
  parts.push(
    `<line x1="${margin.left}" y1="${margin.top + plotHeight}" x2="${margin.left + plotWidth}" y2="${margin.top + plotHeight}" stroke="#424242"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${margin.top + plotHeight}" stroke="#424242"/>`,
    `<text x="${margin.left + plotWidth / 2}" y="${height - 12}" text-anchor="middle">shards N</text>`,
    `<text x="18" y="${margin.top + plotHeight / 2}" text-anchor="middle" transform="rotate(-90 18 ${margin.top + plotHeight / 2})">acknowledged increments/s (200 + 204)</text>`,
    // The ceiling: N x limit, a straight line through the origin.
    `<line x1="${x(0).toFixed(1)}" y1="${y(0).toFixed(1)}" x2="${x(maxN).toFixed(1)}" y2="${y(maxN * limit).toFixed(1)}" stroke="#c62828" stroke-dasharray="5 4"/>`,
  );
  // Labels at the right end of each line, spread so that they do not overlap.
  const ends: { value: number; colour: string; text: string }[] = [
    { value: maxN * limit, colour: '#c62828', text: `${maxN * limit}: N x ${limit}/s, the write limit` },
  ];
  // The legend, in the plot's upper left, which the curves (rising to the right) leave empty.
  const legend: { colour: string; dotted: boolean; text: string }[] = [];
  runs.forEach((run, index) => {
    const colour = CHART_COLOURS[index % CHART_COLOURS.length] ?? '#3f6fb5';
    const rows = run.rows.filter((row) => Number.isFinite(row.acknowledgedPerSecond));
    const points = rows.map(
      (row) => `${x(row.shards).toFixed(1)},${y(row.acknowledgedPerSecond).toFixed(1)}`,
    );
    parts.push(`<polyline points="${points.join(' ')}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    for (const row of rows) {
      parts.push(
        `<circle cx="${x(row.shards).toFixed(1)}" cy="${y(row.acknowledgedPerSecond).toFixed(1)}" r="3.5" fill="${colour}"/>`,
      );
    }
    const last = rows.at(-1);
    if (last !== undefined)
      ends.push({
        value: last.acknowledgedPerSecond,
        colour,
        text: `${last.acknowledgedPerSecond.toFixed(1)}: run ${index + 1}`,
      });
    legend.push({ colour, dotted: false, text: `run ${index + 1}: ${chartLabel(run)}` });
    // Where some increments answered 204 for want of a read, the 200s alone show the read-back cap.
    if (readBackFell(run)) {
      const okPoints = rows.map((row) => `${x(row.shards).toFixed(1)},${y(row.okPerSecond).toFixed(1)}`);
      parts.push(
        `<polyline points="${okPoints.join(' ')}" fill="none" stroke="${colour}" stroke-width="2" stroke-dasharray="2 3"/>`,
      );
      legend.push({ colour, dotted: true, text: `run ${index + 1}: of which 200 (counter read back)` });
      if (last !== undefined)
        ends.push({
          value: last.okPerSecond,
          colour,
          text: `${last.okPerSecond.toFixed(1)}: run ${index + 1}, 200s`,
        });
    }
  });
  const placed = spreadLabels(
    ends.map((end) => y(end.value) + 4),
    14,
  );
  ends.forEach((end, index) => {
    parts.push(
      `<text x="${(x(maxN) + 8).toFixed(1)}" y="${(placed[index] ?? 0).toFixed(1)}" fill="${end.colour}">${escapeXml(end.text)}</text>`,
    );
  });
  legend.forEach((entry, index) => {
    const at = margin.top + 14 + index * 18;
    parts.push(
      `<line x1="${margin.left + 12}" y1="${at}" x2="${margin.left + 32}" y2="${at}" stroke="${entry.colour}" stroke-width="2"${entry.dotted ? ' stroke-dasharray="2 3"' : ''}/>`,
      `<text x="${margin.left + 36}" y="${at + 4}" fill="${entry.colour}">${escapeXml(entry.text)}</text>`,
    );
  });
  if (unlimitedRates.length > 0) {
    const low = Math.min(...unlimitedRates).toFixed(0);
    const high = Math.max(...unlimitedRates).toFixed(0);
    const at = margin.top + 14 + legend.length * 18 + 6;
    parts.push(
      `<text x="${margin.left + 12}" y="${at}" fill="#616161">${escapeXml(`No limit (a plain counter): ${low === high ? low : `${low}-${high}`}/s, off this chart.`)}</text>`,
    );
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10])
    if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

// Run only as the entry point, so the document's Markdown and chart can be drawn again from a JSON file.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    await main(parseOptions(process.argv.slice(2)));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  }
}
