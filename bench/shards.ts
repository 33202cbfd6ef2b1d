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
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../lib/repo-root.ts';
import { CommandLine, isEntryPoint, progressLog, runEntryPoint } from './cli.ts';
import type { ItemRateLimit } from './item-rate-proxy.ts';
import { changedDuringRun, codeSnapshot, codeVersion, commandOf, machineAtEnd } from './provenance.ts';
import { jsonText, reportDirectory, writeReportFiles } from './report-files.ts';
import { shardsChart } from './shards-chart.ts';
import {
  AWS_ITEM_READ_UNITS_PER_SECOND,
  AWS_ITEM_WRITE_UNITS_PER_SECOND,
  readDocument,
  type ShardsReport,
  withRun,
} from './shards-document.ts';
import { shardsMarkdown } from './shards-markdown.ts';
import { type PhaseSettings, runPhases } from './shards-phases.ts';

const FULL_SHARDS = [1, 2, 4, 8, 16];
const QUICK_SHARDS = [1, 4];
const DEFAULT_LIMIT: ItemRateLimit = { writesPerSecond: 5, burst: 5 };

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

interface Options extends PhaseSettings {
  quick: boolean;
  outDir: string | undefined;
  workingTree: boolean;
  /** Default settings but for --read-limit and --minimal: only such a run joins the published figures. */
  publishable: boolean;
}

export function parseOptions(argv: readonly string[]): Options {
  const line = new CommandLine(
    argv,
    {
      quick: { type: 'boolean' },
      seconds: { type: 'string' },
      shards: { type: 'string' },
      limit: { type: 'string' },
      burst: { type: 'string' },
      'read-limit': { type: 'string' },
      minimal: { type: 'boolean' },
      connections: { type: 'string' },
      'out-dir': { type: 'string' },
      'working-tree': { type: 'boolean' },
    },
    USAGE,
  );
  const quick = line.has('quick');
  const shards = line.wholeNumbers('shards');
  if (shards?.some((n) => n > 32)) line.fail('--shards takes counts from 1 to 32');
  const custom = ['seconds', 'shards', 'limit', 'burst', 'connections'] as const;
  return {
    quick,
    seconds: line.wholeNumber('seconds') ?? (quick ? 3 : 10),
    shards:
      shards === undefined
        ? quick
          ? QUICK_SHARDS
          : FULL_SHARDS
        : [...new Set(shards)].sort((a, b) => a - b),
    limit: {
      writesPerSecond: line.wholeNumber('limit') ?? DEFAULT_LIMIT.writesPerSecond,
      burst: line.wholeNumber('burst') ?? DEFAULT_LIMIT.burst,
      readsPerSecond: line.wholeNumber('read-limit'),
    },
    minimal: line.has('minimal'),
    connections: line.wholeNumber('connections') ?? 64,
    outDir: line.text('out-dir'),
    workingTree: line.has('working-tree'),
    publishable: !quick && custom.every((name) => line.text(name) === undefined),
  };
}

const log = progressLog('bench:shards');

async function main(options: Options): Promise<void> {
  const generatedAt = new Date();
  const code = codeVersion(['functions', 'lib', 'bin', 'bench/item-rate-proxy.ts']);
  const loadAverageAtStart = os.loadavg();
  log(
    `shards ${options.shards.join(',')}, ${options.seconds} s each, ${options.connections} connections, ` +
      `limit ${options.limit.writesPerSecond}/s per item (burst ${options.limit.burst})` +
      (options.limit.readsPerSecond === undefined
        ? ''
        : `, reads ${options.limit.readsPerSecond}/s per item`) +
      (options.minimal ? ', Prefer: return=minimal' : ''),
  );
  const codeRoot = options.workingTree ? REPO_ROOT : await codeSnapshot(code.commit);
  let phases: Awaited<ReturnType<typeof runPhases>>;
  try {
    phases = await runPhases(options, codeRoot, log);
  } finally {
    if (codeRoot !== REPO_ROOT) await rm(codeRoot, { recursive: true, force: true });
  }
  const report: ShardsReport = {
    generatedAt: generatedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command: commandOf('bench:shards'),
    quick: options.quick,
    code: {
      commit: code.commit,
      served: options.workingTree ? 'working tree' : 'HEAD snapshot',
      uncommittedChanges: options.workingTree ? code.uncommittedChanges : [],
      ...changedDuringRun(code),
    },
    machine: machineAtEnd(loadAverageAtStart, { engine: true }),
    settings: {
      connections: options.connections,
      secondsPerPhase: options.seconds,
      limit: options.limit,
      minimal: options.minimal,
      awsItemWriteUnitsPerSecond: AWS_ITEM_WRITE_UNITS_PER_SECOND,
      awsItemReadUnitsPerSecond: AWS_ITEM_READ_UNITS_PER_SECOND,
    },
    ...phases,
  };
  await publish(report, options);
}

/**
 * Adds the run to shards.json (a published or chosen directory gathers runs of different settings; the
 * temporary one holds this run only) and draws shards.md and shards.svg again from every run there.
 */
async function publish(report: ShardsReport, options: Options): Promise<void> {
  const outDir = reportDirectory({
    chosen: options.outDir,
    publishable: options.publishable,
    temporary: 'shards-bench',
  });
  const gathers = options.outDir !== undefined || options.publishable;
  const jsonFile = path.join(outDir, 'shards.json');
  const document = withRun(gathers ? readDocument(jsonFile, log) : { runs: [] }, report);
  const markdown = shardsMarkdown(document);
  await writeReportFiles(
    [
      { file: jsonFile, text: jsonText(document) },
      { file: path.join(outDir, 'shards.md'), text: markdown },
      { file: path.join(outDir, 'shards.svg'), text: shardsChart(document) },
    ],
    log,
  );
  process.stdout.write(`${markdown}\nwritten to ${outDir}/shards.{json,md,svg}\n`);
}

if (isEntryPoint(import.meta.url)) await runEntryPoint(async () => main(parseOptions(process.argv.slice(2))));
