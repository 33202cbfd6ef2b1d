/**
 * Issue 5's benchmark: does reading a counter's history, series and listings stay cheap as the data
 * grows? `npm run bench:history [-- --quick]`. Builds a large data set in a local engine (a temporary
 * file) through the service's own writes and the real stream consumer, then compares each read on it with
 * the same read on small data, in the same run, and counts the capacity units of reads and writes.
 * Not part of `npm test`: it takes minutes and its times depend on the machine.
 */
import os from 'node:os';
import path from 'node:path';
import { HISTORY_STREAM } from '../lib/stream-settings.ts';
import { CommandLine, isEntryPoint, progressLog, runEntryPoint } from './cli.ts';
import { type BuildResult, buildDataset, type DatasetPlan, NAMES, spanOf } from './history-dataset.ts';
import type { CapacityMeter } from './history-meter.ts';
import { measurePurge } from './history-purge.ts';
import { measureReads, READ_TARGET } from './history-reads.ts';
import { type HistoryScaleReport, historyScaleMarkdown } from './history-report.ts';
import { type HistoryBench, startHistoryBench } from './history-setup.ts';
import { measureWrites, writeCases } from './history-writes.ts';
import { changedDuringRun, codeVersion, commandOf, machineAtEnd } from './provenance.ts';
import { jsonText, reportDirectory, writeReportFiles } from './report-files.ts';
import { ratio } from './stats.ts';

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

interface Options {
  quick: boolean;
  plan: DatasetPlan;
  reps: number;
  warmup: number;
  /** Changes per write-capacity case. */
  writeChanges: number;
  outDir: string | undefined;
}

export function parseOptions(argv: readonly string[]): Options {
  const line = new CommandLine(
    argv,
    {
      quick: { type: 'boolean' },
      changes: { type: 'string' },
      counters: { type: 'string' },
      'changes-per-counter': { type: 'string' },
      reps: { type: 'string' },
      'out-dir': { type: 'string' },
    },
    USAGE,
  );
  const quick = line.has('quick');
  const plan: DatasetPlan = {
    bigChanges: line.wholeNumber('changes') ?? (quick ? 10_000 : 100_000),
    manyCounters: line.wholeNumber('counters') ?? (quick ? 1_000 : 10_000),
    changesPerCounter: line.wholeNumber('changes-per-counter') ?? 3,
    referenceChanges: 10,
    fewCounters: 10,
    spanDays: 30,
    concurrency: 16,
    batchSize: HISTORY_STREAM.batchSize,
  };
  if (plan.bigChanges < 1000) line.fail('--changes must be at least 1000 (the deep page needs room)');
  if (plan.manyCounters < 100) line.fail('--counters must be at least 100');
  const reps = line.wholeNumber('reps') ?? (quick ? 20 : 50);
  return { quick, plan, reps, warmup: 5, writeChanges: 100, outDir: line.text('out-dir') };
}

const log = progressLog('bench:history');

async function main(options: Options): Promise<void> {
  const generatedAt = new Date();
  // The code is loaded now; others may commit while the run goes on, so the version is taken now too.
  const code = codeVersion(['functions', 'lib', 'bench/history-*']);
  const loadAverageAtStart = os.loadavg();
  const { plan } = options;
  log(`plan: ${JSON.stringify(plan)}`);
  const bench = await startHistoryBench();
  let measured: Omit<
    HistoryScaleReport,
    'generatedAt' | 'finishedAt' | 'command' | 'quick' | 'code' | 'machine'
  >;
  try {
    measured = await measureAll(bench, options, generatedAt.getTime());
  } finally {
    await bench.stop();
  }
  const report: HistoryScaleReport = {
    generatedAt: generatedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command: commandOf('bench:history'),
    quick: options.quick,
    code: { ...code, ...changedDuringRun(code) },
    machine: machineAtEnd(loadAverageAtStart, { engine: true }),
    ...measured,
  };
  await publish(report, options);
}

/** The build, then the reads on it, the write cases, and last the purge, as it deletes the big counter. */
async function measureAll(bench: HistoryBench, options: Options, nowMs: number) {
  const { plan } = options;
  const span = spanOf(plan, nowMs);
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
  const purge = await measurePurge(
    bench,
    {
      big: { name: NAMES.big, changes: plan.bigChanges },
      reference: { name: NAMES.reference, changes: plan.referenceChanges },
    },
    log,
  );
  return {
    plan,
    target: READ_TARGET,
    build: buildFigures(build, bench.meter),
    reads,
    writes,
    purge,
    unreportedCapacity: bench.meter.unreportedTotal(),
  };
}

/** The build's own figures, with its rates compared and what it wrote per change. */
function buildFigures(build: BuildResult, meter: CapacityMeter): HistoryScaleReport['build'] {
  const counterWrites = meter.get('build: counters UpdateItem');
  const consumerWrites = meter.get('build: consumer');
  const changes = build.writes.changes;
  return {
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
  };
}

async function publish(report: HistoryScaleReport, options: Options): Promise<void> {
  const outDir = reportDirectory({
    chosen: options.outDir,
    publishable: !options.quick,
    temporary: 'history-scale-quick',
  });
  const markdown = historyScaleMarkdown(report);
  await writeReportFiles(
    [
      { file: path.join(outDir, 'history-scale.json'), text: jsonText(report) },
      { file: path.join(outDir, 'history-scale.md'), text: markdown },
    ],
    log,
  );
  process.stdout.write(`${markdown}\nwritten to ${outDir}/history-scale.{json,md}\n`);
}

if (isEntryPoint(import.meta.url)) await runEntryPoint(async () => main(parseOptions(process.argv.slice(2))));
