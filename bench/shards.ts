/**
 * Sharded counters' benchmark: how increment throughput grows with the number of shards N.
 *
 *   npm run bench:shards [-- --quick] [--seconds S] [--shards 1,2,4,8,16] [--limit W] [--burst B]
 *                           [--read-limit R] [--connections C] [--out-dir DIR]
 *
 * DynamoDB takes about 1,000 write units per second on one item; the local engine has no such limit,
 * so this harness puts one in front of it, scaled down: `bench/item-rate-proxy.ts`, a token bucket per
 * (table, partition key) that answers ProvisionedThroughputExceededException over the limit, as
 * DynamoDB does. It starts an in-memory engine, the proxy in front of it, and the local server
 * (`bin/local.ts`, in its own process, as the integration tests start it) with DYNAMODB_ENDPOINT at the
 * proxy. Then, for each N, it creates a fresh counter with N shards (`PUT {"value": 0, "shards": N}`),
 * drives `C` keep-alive connections of signed `POST /counters/{name}` for S seconds (each connection
 * sends its next request as soon as the last is answered, 429 or not: a saturating load), and checks
 * that the counter's final value equals the number of 200 answers exactly; it stops loudly if not.
 * Before and after the shard phases, the same load on a plain counter with the limit lifted measures
 * what this machine can do at all, so a reader can tell a limit-bound figure from a CPU-bound one.
 *
 * A full run writes docs/benchmarks/shards.{json,md,svg}; `--quick` (N in 1 and 4, 3 s each), a custom
 * `--shards` list or `--seconds` write to a temporary directory unless `--out-dir` is given.
 * Not part of `npm test`: it takes a couple of minutes and its figures depend on the machine.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
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
import { formatMs, formatRatio, markdownTable, ratio, type Summary, summarize } from './stats.ts';
import { escapeXml } from './svg.ts';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** DynamoDB's per-item (per-partition) write ceiling, for the reader's scale. */
const AWS_ITEM_WRITE_UNITS_PER_SECOND = 1000;
const FULL_SHARDS = [1, 2, 4, 8, 16];
const QUICK_SHARDS = [1, 4];
const DEFAULT_LIMIT: ItemRateLimit = { writesPerSecond: 5, burst: 5 };
/** The history consumer is done with a phase once it has tried no write for this long. */
const CONSUMER_QUIET_MS = 3000;
const CONSUMER_DRAIN_MAX_MS = 30_000;
/** After the last phase, with the limit lifted, for the consumer to work off its backlog. */
const FINAL_DRAIN_MAX_MS = 180_000;

const USAGE = `npm run bench:shards [-- --quick] [--seconds S] [--shards LIST] [--limit W] [--burst B]
                           [--read-limit R] [--connections C] [--out-dir DIR]

  --quick          N in ${QUICK_SHARDS.join(', ')}, 3 s each: a smoke run, written to a temporary directory
  --seconds S      seconds of load per phase (default 10)
  --shards LIST    the shard counts, comma-separated, each 1..32 (default ${FULL_SHARDS.join(',')})
  --limit W        write units per second per item the proxy allows (default ${DEFAULT_LIMIT.writesPerSecond})
  --burst B        units an idle item may take at once (default ${DEFAULT_LIMIT.burst})
  --read-limit R   also limit reads to R units per second per item (DynamoDB: about 3,000, three
                   times its write limit); default: reads unlimited
  --connections C  concurrent keep-alive connections (default 64)
  --out-dir DIR    where shards.json, .md and .svg go (default docs/benchmarks for a full default run,
                   a temporary directory otherwise)
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
  connections: number;
  outDir: string | undefined;
  workingTree: boolean;
  /** Default settings throughout: only such a run replaces the published figures. */
  publishable: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  let quick = false;
  let seconds: number | undefined;
  let shards: number[] | undefined;
  let writesPerSecond: number | undefined;
  let burst: number | undefined;
  let readsPerSecond: number | undefined;
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
    readsPerSecond === undefined &&
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
    connections: connections ?? 64,
    outDir,
    workingTree,
    publishable,
  };
}

/** One load phase's answers, as the client saw them. */
interface Load {
  seconds: number;
  ok: number;
  throttled: number;
  /** Answers other than 200 and 429, by status (0: no answer). */
  other: Record<string, number>;
  /** The first few of those answers' bodies, to say what they were. */
  otherBodies: string[];
  /** 429s without a Retry-After header (the contract promises one). */
  throttledWithoutRetryAfter: number;
  /** The 429 problems' `type`s, by count. */
  throttledTypes: Record<string, number>;
  okLatencyMs: Summary;
  throttledLatencyMs: Summary;
}

interface ShardRow {
  shards: number;
  counter: string;
  /** N x the per-item limit: what DynamoDB (here, the proxy) lets through at most. */
  ceilingPerSecond: number;
  load: Load;
  okPerSecond: number;
  throttledShare: number;
  /** okPerSecond / ceilingPerSecond. */
  ofCeiling: number;
  /** okPerSecond / the N = 1 row's, in this run. */
  againstOneShard: number;
  finalValue: number;
  /** Write units the proxy forwarded to the counter's items in the phase; `ok` if each took one UpdateItem. */
  writesForwarded: number;
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
    /** The counter's history entries when the wait ended, against its ok + 1 changes (the PUT too). */
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
    awsItemWriteUnitsPerSecond: number;
  };
  /** The same load on a plain counter with no limit, before and after the shard phases. */
  unlimited: { before: Load; after: Load; okPerSecond: number };
  rows: ShardRow[];
  /** Lines in the local server's dead-letter file at the end (history batches given up on). */
  deadLetters: number;
  /** The local server's error log lines (POWERTOOLS_LOG_LEVEL=ERROR): how many, and the first few. */
  serverErrors: { lines: number; first: string[] };
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
    const okLatencies: number[] = [];
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
          headers: { host: this.url.host },
        });
        const sent = performance.now();
        const answer = await this.post(path, signed.headers);
        const took = performance.now() - sent;
        if (answer.status === 200) okLatencies.push(took);
        else if (answer.status === 429) {
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
      ok: okLatencies.length,
      throttled: throttledLatencies.length,
      other,
      otherBodies,
      throttledWithoutRetryAfter,
      throttledTypes,
      okLatencyMs: summarize(okLatencies),
      throttledLatencyMs: summarize(throttledLatencies),
    };
  }

  private post(
    path: string,
    headers: Record<string, string>,
  ): Promise<{ status: number; retryAfter: string | undefined; body: string }> {
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
          const chunks: Buffer[] = [];
          // Only refusals are read: their problem type says why.
          res.on('data', (chunk: Buffer) => {
            if (status !== 200) chunks.push(chunk);
          });
          res.once('end', () =>
            resolve({ status, retryAfter, body: Buffer.concat(chunks).toString('utf8') }),
          );
          res.once('error', () => resolve({ status: 0, retryAfter: undefined, body: '' }));
        },
      );
      req.once('error', () => resolve({ status: 0, retryAfter: undefined, body: '' }));
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

async function readValue(client: CounterClient, name: string): Promise<number> {
  const answer = await client.request('GET', `/counters/${name}`);
  expectStatus(answer, 200, `GET /counters/${name}`);
  return counterBody.parse(answer.body).value;
}

/** The counters table is the one holding the counter's own item; its shards are `<name>#<i>`. */
function counterItems(counts: ItemRateCounts, name: string): { table: string; units: number[] } {
  const own = JSON.stringify({ S: name });
  for (const [table, byItem] of Object.entries(counts.unitsByItem)) {
    if (byItem[own] === undefined) continue;
    const units = Object.entries(byItem)
      .filter(([key]) => key === own || new RegExp(`^\\{"S":"${escapeRegExp(name)}#[0-9]+"\\}$`).test(key))
      .map(([, value]) => value);
    return { table, units };
  }
  return { table: '', units: [] };
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
  const code = codeVersion();
  const loadAverageAtStart = os.loadavg();
  const run = randomUUID().slice(0, 6);
  log(
    `shards ${options.shards.join(',')}, ${options.seconds} s each, ${options.connections} connections, ` +
      `limit ${options.limit.writesPerSecond}/s per item (burst ${options.limit.burst})`,
  );
  const codeRoot = options.workingTree ? REPO_ROOT : await snapshotOf(code.commit);
  // The snapshot's own server-process.ts, so bin/local.ts and the handlers it loads are the commit's.
  const { startServer }: typeof ServerProcess = await import(
    pathToFileURL(path.join(codeRoot, 'test', 'support', 'server-process.ts')).href
  );
  const engine = await startEngine({});
  const proxy = await new ItemRateProxy(engine.endpoint, undefined).start();
  const server = await startServer({ env: { DYNAMODB_ENDPOINT: proxy.url } });
  const driver = new LoadDriver(server.url, options.connections);
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
      log(`no limit (${label}): ${(load.ok / load.seconds).toFixed(0)} increments/s`);
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
      const finalValue = await checkExact(client, name, load);
      const inPhase = proxy.snapshot();
      const items = counterItems(inPhase, name);
      const drain = await consumerDrain(proxy, items.table, loadEnd);
      const afterDrain = proxy.snapshot();
      const historyEntries = await historyLength(client, name);
      const okPerSecond = load.ok / load.seconds;
      const ceilingPerSecond = shards * options.limit.writesPerSecond;
      const row: ShardRow = {
        shards,
        counter: name,
        ceilingPerSecond,
        load,
        okPerSecond,
        throttledShare: load.throttled / (load.ok + load.throttled),
        ofCeiling: ratio(okPerSecond, ceilingPerSecond),
        againstOneShard: Number.NaN,
        finalValue,
        writesForwarded: items.units.reduce((sum, units) => sum + units, 0),
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
        `N=${shards}: ${okPerSecond.toFixed(1)} increments/s (ceiling ${ceilingPerSecond}), ` +
          `${load.throttled} x 429, value ${finalValue} = ${load.ok} acknowledged; ` +
          `${items.units.length} shard items written; history ${historyEntries}/${load.ok + 1} entries ` +
          `${drain.drained ? `${drain.drainSeconds.toFixed(1)} s after` : `still behind after ${drain.drainSeconds.toFixed(0)} s`}`,
      );
      if (row.writesForwarded !== load.ok)
        log(
          `note: ${row.writesForwarded} write units reached the counter's items for ${load.ok} acknowledged; ` +
            `the engine refused ${JSON.stringify(inPhase.engineRefusals)}`,
        );
    }

    const one = rows.find((row) => row.shards === 1)?.okPerSecond ?? Number.NaN;
    for (const row of rows) row.againstOneShard = ratio(row.okPerSecond, one);
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
        awsItemWriteUnitsPerSecond: AWS_ITEM_WRITE_UNITS_PER_SECOND,
      },
      unlimited: {
        before,
        after,
        okPerSecond: (before.ok + after.ok) / (before.seconds + after.seconds),
      },
      rows,
      deadLetters: countLines(path.join(server.dataDir, 'dead-letters.jsonl')),
      serverErrors: errorLines(server.stderr()),
    };
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
    const markdown = shardsMarkdown(report);
    await writeFile(files.json, `${JSON.stringify(report, null, 2)}\n`);
    await writeFile(files.markdown, markdown);
    await writeFile(files.svg, shardsChart(report));
    formatAsTheRepositoryDoes([files.json, files.markdown]);
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

/** Every acknowledged increment applied once, every refused one not at all: the value says so exactly. */
async function checkExact(client: CounterClient, name: string, load: Load): Promise<number> {
  const value = await readValue(client, name);
  const unanswered = Object.values(load.other).reduce((sum, count) => sum + count, 0);
  if (value !== load.ok) {
    throw new Error(
      `${name}: the value is ${value} after ${load.ok} acknowledged increments ` +
        `(${load.throttled} x 429, other answers ${JSON.stringify(load.other)}${unanswered > 0 ? ', which may or may not have applied' : ''})`,
    );
  }
  return value;
}

async function historyLength(client: CounterClient, name: string): Promise<number> {
  let entries = 0;
  for await (const _entry of client.history(name, { limit: 1000 })) entries++;
  return entries;
}

function errorLines(stderr: string): { lines: number; first: string[] } {
  const lines = stderr.split('\n').filter((line) => /"level":"(ERROR|CRITICAL)"/.test(line));
  return { lines: lines.length, first: lines.slice(0, 3).map((line) => line.slice(0, 600)) };
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

/** The commit measured, and whether the served code differed from it (others may be editing the tree). */
function codeVersion(): { commit: string; uncommittedChanges: string[] } {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  try {
    const changed = git('status', '--porcelain', '--', 'functions', 'lib', 'bin', 'bench/item-rate-proxy.ts');
    return {
      commit: git('rev-parse', 'HEAD'),
      uncommittedChanges: changed === '' ? [] : changed.split('\n').map((line) => line.trim()),
    };
  } catch {
    return { commit: 'unknown', uncommittedChanges: [] };
  }
}

function changedDuringRun(atStart: { commit: string }): { headAtEnd?: string } {
  const atEnd = codeVersion();
  return atEnd.commit === atStart.commit ? {} : { headAtEnd: atEnd.commit };
}

/** Biome checks docs/ as it checks the code, so the published files are left in its format. */
function formatAsTheRepositoryDoes(files: string[]): void {
  try {
    execFileSync(path.join(REPO_ROOT, 'node_modules', '.bin', 'biome'), ['format', '--write', ...files], {
      cwd: REPO_ROOT,
      stdio: 'ignore',
    });
  } catch (error) {
    log(`could not format ${files.join(', ')} with Biome: ${String(error)}`);
  }
}

function engineVersion(): string {
  try {
    const file = createRequire(import.meta.url).resolve('@dynoxide/linux-x64/package.json');
    const { version } = z.object({ version: z.string() }).parse(JSON.parse(readFileSync(file, 'utf8')));
    return `Dynoxide ${version}`;
  } catch {
    return 'Dynoxide (version unknown)';
  }
}

const percent = (share: number) => (Number.isFinite(share) ? `${(share * 100).toFixed(0)}%` : 'n/a');
const load = (values: readonly number[]) => values.map((value) => value.toFixed(2)).join(' / ');
const perSecond = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : 'n/a');

function tableCounts(counts: Record<string, number>): string {
  const entries = Object.entries(counts).filter(([, count]) => count > 0);
  return entries.length === 0 ? 'none' : entries.map(([table, count]) => `${table}: ${count}`).join(', ');
}

export function shardsMarkdown(report: ShardsReport): string {
  const { settings, rows } = report;
  const limit = settings.limit.writesPerSecond;
  const top = rows.at(-1);
  const table = markdownTable(
    [
      'shards N',
      'ceiling N x limit',
      'increments/s (200)',
      'of ceiling',
      'vs N = 1',
      '429 share',
      'p50 (200)',
      'p99 (200)',
      'p50 (429)',
      'final value = 200s',
      'shard items written (min-max units)',
    ],
    rows.map((row) => [
      String(row.shards),
      `${row.ceilingPerSecond}/s`,
      perSecond(row.okPerSecond),
      percent(row.ofCeiling),
      formatRatio(row.againstOneShard),
      percent(row.throttledShare),
      formatMs(row.load.okLatencyMs.median),
      formatMs(row.load.okLatencyMs.p99),
      formatMs(row.load.throttledLatencyMs.median),
      `${row.finalValue} = ${row.load.ok}`,
      `${row.shardItems.written} (${row.shardItems.minUnits}-${row.shardItems.maxUnits})`,
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
      `${row.consumer.historyEntries} / ${row.load.ok + 1}`,
      `${row.consumer.historyEntriesAtEnd} / ${row.load.ok + 1}`,
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
  const unlimited = report.unlimited;
  return [
    '# Sharded counters: increment throughput against N',
    '',
    `Generated by \`${report.command}\` on ${report.generatedAt} (finished ${report.finishedAt}), commit`,
    `\`${report.code.commit.slice(0, 12)}\`${report.code.headAtEnd === undefined ? '' : ` (HEAD moved to \`${report.code.headAtEnd.slice(0, 12)}\` during the run; the code measured is the starting commit's)`}` +
      (report.code.served === 'HEAD snapshot'
        ? ', served from a snapshot of that commit (`git archive`), whatever else the working tree held.'
        : report.code.uncommittedChanges.length === 0
          ? ', served from the working tree, which had no uncommitted changes in functions/, lib/ or bin/.'
          : `, served from the working tree with uncommitted changes: ${report.code.uncommittedChanges.map((line) => `\`${line}\``).join(', ')}.`),
    '',
    'Regenerate with `npm run bench:shards` (a full run writes this file, `docs/benchmarks/shards.json` and',
    '`docs/benchmarks/shards.svg`; `-- --quick` is a smoke run written to a temporary directory). The',
    'harness is `bench/shards.ts`, the per-item limit `bench/item-rate-proxy.ts`.',
    '',
    '![Increments per second against the number of shards](shards.svg)',
    '',
    '## What is measured',
    '',
    `DynamoDB takes about ${AWS_ITEM_WRITE_UNITS_PER_SECOND.toLocaleString('en-US')} write units per second on one item (one partition key);`,
    'a counter that is one item can therefore take about that many increments per second, whatever the',
    "table's capacity. A sharded counter spreads its increments over N items, so its ceiling is N times",
    'that. The local engine has no per-item limit at all, so this benchmark puts one in front of it,',
    `scaled down: **${limit} write units per second per item, burst ${settings.limit.burst}**` +
      (settings.limit.readsPerSecond === undefined
        ? ', reads unlimited'
        : `, and **${settings.limit.readsPerSecond} read units per second per item** (GetItem 1, each item of TransactGetItems 2)`),
    '(`bench/item-rate-proxy.ts`, a token bucket per table and partition key; over it, the proxy answers',
    "`ProvisionedThroughputExceededException` as DynamoDB does, the handlers' SDK retries it as",
    'throttling, and the API answers 429 with Retry-After). Scaled down, because this machine could not',
    `drive ${AWS_ITEM_WRITE_UNITS_PER_SECOND.toLocaleString('en-US')} increments per second per shard: with the limit lifted it managed`,
    `${perSecond(unlimited.okPerSecond)} increments/s in all (below). On AWS, read the ceiling column as`,
    `N x ${AWS_ITEM_WRITE_UNITS_PER_SECOND.toLocaleString('en-US')}/s.`,
    '',
    `Each item starts a phase with its burst of ${settings.limit.burst} units in hand, so a phase may exceed its ceiling by`,
    `N x ${settings.limit.burst} / ${settings.secondsPerPhase} s (${((settings.limit.burst / settings.secondsPerPhase / limit) * 100).toFixed(0)}% of it).`,
    '',
    `For each N, a fresh counter with N shards, then ${settings.connections} keep-alive connections sending`,
    `signed \`POST /counters/{name}\` (+1) for ${settings.secondsPerPhase} s, each connection sending its next`,
    'request as soon as the last is answered, 429 or not: a saturating load, so the acknowledged rate is',
    'what the limit lets through and the 429 share is the refused excess (it depends on the load, not only',
    'on N). Afterwards `GET /counters/{name}` must equal the number of 200 answers exactly; the run stops',
    'if it does not. It did, for every N below.',
    '',
    '## Results',
    '',
    table,
    '',
    top === undefined
      ? ''
      : `With ${top.shards} shards the counter acknowledged ${formatRatio(top.againstOneShard)} the increments per second of one shard, ` +
        `${percent(top.ofCeiling)} of its ceiling of ${top.shards} x ${limit}/s. Throughput is bounded by N x the per-item limit ` +
        'until the machine, not the limit, is what runs out (the unlimited rate below). Latencies are of the 200 ' +
        "answers and include the SDK's own throttling retries inside the handler (up to 3 attempts, within the " +
        "SDK's retry quota); a 429 comes once those are spent. Whether the quota is spent depends on what came " +
        'before, so the 429 share varies from run to run far more than the acknowledged rate does.',
    '',
    `- With no limit (a plain counter, the proxy letting everything through): ${perSecond(unlimited.before.ok / unlimited.before.seconds)} increments/s before the shard phases, ` +
      `${perSecond(unlimited.after.ok / unlimited.after.seconds)} after; p50 ${formatMs(unlimited.before.okLatencyMs.median)} / ${formatMs(unlimited.after.okLatencyMs.median)}. ` +
      "Where N x limit nears this, the figure is this machine's, not the limit's.",
    '- "shard items written" counts the counter\'s items (`<name>` and `<name>#<i>`) that took increments in the phase,',
    '  with the fewest and most write units one of them took: an even spread means the random choice of shard works.',
    `- 429 problem types: ${[...types].map(([type, count]) => `\`${type}\` ${count}`).join(', ') || 'none'}; ` +
      `429s without Retry-After: ${missingRetryAfter}.`,
    ...rows
      .filter((row) => Object.keys(row.throttledReads).length > 0)
      .map(
        (row) => `- N = ${row.shards}: reads refused by the read limit: ${tableCounts(row.throttledReads)}.`,
      ),
    ...rows
      .filter((row) => Object.keys(row.engineRefusals).length > 0)
      .map(
        (row) =>
          `- N = ${row.shards}: forwarded writes the engine refused: ${tableCounts(row.engineRefusals)}.`,
      ),
    other.length === 0
      ? '- No answer other than 200 and 429.'
      : `- Other answers: ${other.map((row) => `N = ${row.shards}: ${JSON.stringify(row.load.other)}`).join('; ')}; ` +
        `the first: ${other
          .flatMap((row) => row.load.otherBodies.slice(0, 1))
          .map((body) => `\`${body}\``)
          .join(', ')}.`,
    `- The local server logged ${report.serverErrors.lines} error lines (handlers and stream consumer, level ERROR)${report.serverErrors.lines === 0 ? '.' : '; the first is in shards.json.'}`,
    '',
    '## The history consumer under the same limit',
    '',
    "The limit applies to every table, as DynamoDB's does, so the stream consumer's writes to the history",
    "and rollups tables (all of one counter's entries share a partition key) meet it too. Its throttled writes",
    'are retried by the SDK and by the poller; they delay history, they do not touch the counter.',
    `Dead-letter entries at the end of the run: ${report.deadLetters}. Counted from the start of each phase until`,
    `the consumer tried no write for ${CONSUMER_QUIET_MS / 1000} s (or ${CONSUMER_DRAIN_MAX_MS / 1000} s passed, when the next phase began with its backlog still`,
    "queued: one batch at a time per stream shard, as Lambda reads a stream, so a later phase's counter",
    'also waits behind the earlier ones\' backlog). "At the end": after the last phase and the unlimited',
    'phase, with the limit lifted until the consumer had written nothing for 3 s; each history should',
    'then hold exactly one entry per change (the PUT that created the counter and every 200).',
    '',
    consumerTable,
    '',
    '## Where and how',
    '',
    `- Machine: ${report.machine.cpus} cores (${report.machine.cpuModel}), ${report.machine.platform}, Node ${report.machine.node};`,
    "  **shared** with other engineers' runs and benchmarks. Load average (1 / 5 / 15 min; on 2 cores,",
    `  above 2 means others were busy too) at start ${load(report.machine.loadAverageAtStart)}, at end ${load(report.machine.loadAverageAtEnd)}.`,
    `- Engine: ${report.machine.engine}, in memory, started by \`startEngine({})\`; the local server`,
    '  (`bin/local.ts`, its own process, started as the integration tests start it) reaches it through the proxy',
    "  (`DYNAMODB_ENDPOINT`). Client, proxy, server, stream consumer and engine share the machine's cores.",
    "- The absolute rates say little about AWS: they are this machine's and this scaled-down limit's. What",
    '  carries over are the **ratios**: against N = 1 measured in the same run, and against N x limit.',
    '',
  ].join('\n');
}

/** Increments per second against N, with the N x limit ceiling and the machine's unlimited rate. */
export function shardsChart(report: ShardsReport): string {
  const width = 640;
  const height = 380;
  const margin = { left: 70, right: 190, top: 44, bottom: 50 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const limit = report.settings.limit.writesPerSecond;
  const maxN = Math.max(...report.rows.map((row) => row.shards), 1);
  const unlimited = report.unlimited.okPerSecond;
  const maxY = niceCeiling(
    Math.max(maxN * limit, unlimited, ...report.rows.map((row) => row.okPerSecond).filter(Number.isFinite)) *
      1.05,
  );
  const x = (n: number) => margin.left + (n / maxN) * plotWidth;
  const y = (value: number) => margin.top + plotHeight - (Math.max(0, value) / maxY) * plotHeight;
  const title = `Increments per second against shards N, per-item limit ${limit}/s (${report.generatedAt.slice(0, 10)})`;
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
  for (const row of report.rows) {
    parts.push(
      `<text x="${x(row.shards).toFixed(1)}" y="${margin.top + plotHeight + 18}" text-anchor="middle">${row.shards}</text>`,
    );
  }
  parts.push(
    `<line x1="${margin.left}" y1="${margin.top + plotHeight}" x2="${margin.left + plotWidth}" y2="${margin.top + plotHeight}" stroke="#424242"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${margin.top + plotHeight}" stroke="#424242"/>`,
    `<text x="${margin.left + plotWidth / 2}" y="${height - 12}" text-anchor="middle">shards N</text>`,
    `<text x="18" y="${margin.top + plotHeight / 2}" text-anchor="middle" transform="rotate(-90 18 ${margin.top + plotHeight / 2})">acknowledged increments/s</text>`,
    // The ceiling: N x limit, a straight line through the origin.
    `<line x1="${x(0).toFixed(1)}" y1="${y(0).toFixed(1)}" x2="${x(maxN).toFixed(1)}" y2="${y(maxN * limit).toFixed(1)}" stroke="#c62828" stroke-dasharray="5 4"/>`,
    `<text x="${(x(maxN) + 6).toFixed(1)}" y="${(y(maxN * limit) + 4).toFixed(1)}" fill="#c62828">N x ${limit}/s (the limit)</text>`,
  );
  if (Number.isFinite(unlimited)) {
    parts.push(
      `<line x1="${margin.left}" y1="${y(unlimited).toFixed(1)}" x2="${margin.left + plotWidth}" y2="${y(unlimited).toFixed(1)}" stroke="#9e9e9e" stroke-dasharray="2 3"/>`,
      `<text x="${margin.left + plotWidth + 6}" y="${(y(unlimited) + 4).toFixed(1)}" fill="#616161">no limit: ${unlimited.toFixed(0)}/s</text>`,
    );
  }
  const points = report.rows
    .filter((row) => Number.isFinite(row.okPerSecond))
    .map((row) => `${x(row.shards).toFixed(1)},${y(row.okPerSecond).toFixed(1)}`);
  parts.push(`<polyline points="${points.join(' ')}" fill="none" stroke="#3f6fb5" stroke-width="2"/>`);
  for (const row of report.rows) {
    if (!Number.isFinite(row.okPerSecond)) continue;
    parts.push(
      `<circle cx="${x(row.shards).toFixed(1)}" cy="${y(row.okPerSecond).toFixed(1)}" r="4" fill="#3f6fb5"/>`,
      `<text x="${(x(row.shards) - 6).toFixed(1)}" y="${(y(row.okPerSecond) - 8).toFixed(1)}" text-anchor="end" fill="#3f6fb5">${row.okPerSecond.toFixed(0)}</text>`,
    );
  }
  const legend = margin.top + plotHeight - 30;
  parts.push(
    `<line x1="${margin.left + plotWidth + 6}" y1="${legend}" x2="${margin.left + plotWidth + 26}" y2="${legend}" stroke="#3f6fb5" stroke-width="2"/>`,
    `<text x="${margin.left + plotWidth + 30}" y="${legend + 4}" fill="#3f6fb5">measured (200 answers)</text>`,
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}

function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10])
    if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

// Run only as the entry point, so the report's Markdown and chart can be drawn again from a JSON file.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    await main(parseOptions(process.argv.slice(2)));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  }
}
