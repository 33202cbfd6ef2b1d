/**
 * Issue 5's benchmark: does reading a counter's history, series and listings stay cheap as the data
 * grows? `npm run bench:history [-- --quick]`. Builds a large data set in a local engine (a temporary
 * file) through the service's own writes and the real stream consumer, then compares each read on it with
 * the same read on small data, in the same run, and counts the capacity units of reads and writes.
 * Not part of `npm test`: it takes minutes and its times depend on the machine.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HISTORY_STREAM } from '../lib/stream-settings.ts';
import { buildDataset, type DatasetPlan, NAMES, spanOf } from './history-dataset.ts';
import { measurePurge } from './history-purge.ts';
import { measureReads, READ_TARGET } from './history-reads.ts';
import { type HistoryScaleReport, historyScaleMarkdown } from './history-report.ts';
import { startHistoryBench } from './history-setup.ts';
import { measureWrites, writeCases } from './history-writes.ts';
import { changedDuringRun, codeVersion, engineVersion, formatAsTheRepositoryDoes } from './provenance.ts';
import { ratio } from './stats.ts';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const USAGE = `npm run bench:history [-- --quick] [--changes N] [--counters N] [--changes-per-counter N]
                              [--reps N] [--out-dir DIR]

  --quick         10,000 changes on the big counter and 1,000 counters, 20 rounds per read: a smoke
                  run of a minute or two, written to a temporary directory unless --out-dir is given
  --changes N     changes of the big counter (default 100,000)
  --counters N    counters under the big listing prefix (default 10,000)
  --changes-per-counter N
                  changes of each of those counters (default 3)
  --reps N        measured rounds per read (default 50; 20 with --quick)
  --out-dir DIR   where history-scale.json and .md go (default docs/benchmarks for a run without --quick)`;

class UsageError extends Error {
  constructor(message: string) {
    super(`${message}\n\n${USAGE}`);
    this.name = 'UsageError';
  }
}

interface Options {
  quick: boolean;
  plan: DatasetPlan;
  reps: number;
  warmup: number;
  /** Changes per write-capacity case. */
  writeChanges: number;
  outDir: string | undefined;
}

function parseOptions(argv: readonly string[]): Options {
  let quick = false;
  let changes: number | undefined;
  let counters: number | undefined;
  let perCounter: number | undefined;
  let reps: number | undefined;
  let outDir: string | undefined;
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
      case '--changes':
        changes = positive(flag, argv[++i]);
        break;
      case '--counters':
        counters = positive(flag, argv[++i]);
        break;
      case '--changes-per-counter':
        perCounter = positive(flag, argv[++i]);
        break;
      case '--reps':
        reps = positive(flag, argv[++i]);
        break;
      case '--out-dir': {
        const value = argv[++i];
        if (value === undefined) throw new UsageError('--out-dir needs a directory');
        outDir = value;
        break;
      }
      case '--help':
        throw new UsageError('usage');
      default:
        throw new UsageError(`unknown argument ${flag}`);
    }
  }
  const plan: DatasetPlan = {
    bigChanges: changes ?? (quick ? 10_000 : 100_000),
    manyCounters: counters ?? (quick ? 1_000 : 10_000),
    changesPerCounter: perCounter ?? 3,
    referenceChanges: 10,
    fewCounters: 10,
    spanDays: 30,
    concurrency: 16,
    batchSize: HISTORY_STREAM.batchSize,
  };
  if (plan.bigChanges < 1000)
    throw new UsageError('--changes must be at least 1000 (the deep page needs room)');
  if (plan.manyCounters < 100) throw new UsageError('--counters must be at least 100');
  return { quick, plan, reps: reps ?? (quick ? 20 : 50), warmup: 5, writeChanges: 100, outDir };
}

const started = performance.now();
const log = (line: string) =>
  process.stderr.write(`[bench:history ${((performance.now() - started) / 1000).toFixed(0)}s] ${line}\n`);

async function main(options: Options): Promise<void> {
  const generatedAt = new Date();
  // The code is loaded now; others may commit while the run goes on, so the version is taken now too.
  const code = codeVersion(['functions', 'lib', 'bench/history-*']);
  const loadAverageAtStart = os.loadavg();
  const { plan } = options;
  log(`plan: ${JSON.stringify(plan)}`);
  const bench = await startHistoryBench();
  try {
    const span = spanOf(plan, generatedAt.getTime());
    const build = await buildDataset(bench, plan, span, log);
    log(
      `built: ${build.writes.changes} changes written in ${build.writes.seconds.toFixed(1)} s, ` +
        `consumed in ${build.consumer.seconds.toFixed(1)} s`,
    );
    const reads = await measureReads(bench, plan, span, build, {
      warmup: options.warmup,
      reps: options.reps,
      log,
    });
    const writes = await measureWrites(bench, writeCases(options.writeChanges), log);
    // Last, as it deletes the big counter.
    const purge = await measurePurge(
      bench,
      {
        big: { name: NAMES.big, changes: plan.bigChanges },
        reference: { name: NAMES.reference, changes: plan.referenceChanges },
      },
      log,
    );
    const counterWrites = bench.meter.get('build: counters UpdateItem');
    const consumerWrites = bench.meter.get('build: consumer');
    const changes = build.writes.changes;
    const report: HistoryScaleReport = {
      generatedAt: generatedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      command: `npm run bench:history${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      quick: options.quick,
      code: { ...code, ...changedDuringRun(code) },
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
      plan,
      target: READ_TARGET,
      build: {
        ...build,
        consumerToWriteRate: ratio(
          build.consumer.records / build.consumer.seconds,
          build.writes.changes / build.writes.seconds,
        ),
        capacity: {
          counterWriteUnitsPerChange: counterWrites.writeUnits / changes,
          consumerWriteUnitsPerChange: consumerWrites.writeUnits / changes,
          consumerRequestsPerChange: [...consumerWrites.requests]
            .map(([request, count]) => `${Number((count / changes).toFixed(3))} x ${request}`)
            .join(', '),
        },
      },
      reads,
      writes,
      purge,
      unreportedCapacity: bench.meter.unreportedTotal(),
    };
    const outDir =
      options.outDir ??
      (options.quick
        ? path.join(os.tmpdir(), 'history-scale-quick')
        : path.join(REPO_ROOT, 'docs', 'benchmarks'));
    await mkdir(outDir, { recursive: true });
    const markdown = historyScaleMarkdown(report);
    const jsonFile = path.join(outDir, 'history-scale.json');
    const markdownFile = path.join(outDir, 'history-scale.md');
    await writeFile(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
    await writeFile(markdownFile, markdown);
    formatAsTheRepositoryDoes([jsonFile, markdownFile], log);
    process.stdout.write(`${markdown}\nwritten to ${outDir}/history-scale.{json,md}\n`);
  } finally {
    await bench.stop();
  }
}

try {
  await main(parseOptions(process.argv.slice(2)));
} catch (error) {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = error instanceof UsageError ? 2 : 1;
}
