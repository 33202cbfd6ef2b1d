/**
 * `npm run bench`: what the handlers cost beyond the DynamoDB call they make, section by section
 * (bench/sections.ts), against reference handlers measured in the same run. docs/performance.md says
 * how each section measures; bench/options.ts has the flags.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildAll } from './bundles.ts';
import type { BuiltBundle } from './bundling.ts';
import { chartFiles } from './charts.ts';
import { isEntryPoint, progressLog, runEntryPoint } from './cli.ts';
import { type BenchService, startBenchService } from './local-service.ts';
import { type BenchOptions, isFullRun, parseOptions } from './options.ts';
import { stdoutCapture } from './output-capture.ts';
import { ALL_PRICES } from './prices.ts';
import { codeVersion, commandOf, machineAtEnd } from './provenance.ts';
import { type BenchReport, type Findings, reportMarkdown } from './report.ts';
import { jsonText, PUBLISHED_DIR, type ReportFile, writeReportFiles } from './report-files.ts';
import { BENCH_SECTIONS, type SectionContext } from './sections.ts';
import { subjects } from './subjects.ts';

const log = progressLog('bench');

async function main(options: BenchOptions): Promise<void> {
  const startedAt = new Date();
  const loadAverageAtStart = os.loadavg();
  const code = codeVersion(['functions', 'lib', 'bench', 'package-lock.json']);
  const findings = await measureSections(options);
  const report: BenchReport = {
    generatedAt: startedAt.toISOString(),
    command: commandOf('bench'),
    code,
    quick: options.quick,
    sections: options.sections,
    machine: machineAtEnd(loadAverageAtStart),
    prices: ALL_PRICES,
    ...findings,
    targets: options.sections.flatMap((name) => BENCH_SECTIONS[name].targets(findings)),
  };
  const out = await writeReport(report, options, startedAt);
  const sections = options.sections.flatMap((name) => BENCH_SECTIONS[name].markdown(findings));
  process.stdout.write(reportMarkdown(report, sections));
  log(`report written to ${path.relative(process.cwd(), out) || out}`);
}

/** Each selected section in turn, its findings gathered; stdout belongs to the handlers under test meanwhile. */
async function measureSections(options: BenchOptions): Promise<Findings> {
  const resources = new SectionResources(options);
  const findings: Findings = {};
  stdoutCapture.start();
  try {
    for (const name of options.sections) {
      const section = BENCH_SECTIONS[name];
      if (section.ownServer) await resources.stopService();
      Object.assign(findings, await timed(section.doing(options), () => section.measure(resources.context)));
    }
  } finally {
    await resources.close();
    stdoutCapture.stop();
  }
  return findings;
}

/** The bundles and the in-process service the sections share, made when a section first asks. */
class SectionResources {
  readonly context: SectionContext;
  private bundles: Promise<ReadonlyMap<string, BuiltBundle>> | undefined;
  private bundleDir: string | undefined;
  private service: Promise<BenchService> | undefined;

  constructor(options: BenchOptions) {
    const all = subjects();
    this.context = {
      options,
      subjects: all,
      bundles: () => {
        this.bundles ??= timed('bundling with the stack settings', async () => {
          this.bundleDir = await mkdtemp(path.join(os.tmpdir(), 'counter-bench-bundles-'));
          return buildAll(all, this.bundleDir);
        });
        return this.bundles;
      },
      service: () => {
        this.service ??= timed('starting the local engine and tables', () => startBenchService());
        return this.service;
      },
    };
  }

  async stopService(): Promise<void> {
    const service = this.service;
    this.service = undefined;
    await (await service)?.stop();
  }

  async close(): Promise<void> {
    await this.stopService().catch(() => undefined);
    if (this.bundleDir !== undefined) await rm(this.bundleDir, { recursive: true, force: true });
  }
}

/**
 * The JSON report, and for a full run the charts: a full run replaces docs/benchmarks/latest.json and
 * the charts; a quick or partial one writes its JSON to a temporary file (or --out), never over them.
 */
async function writeReport(report: BenchReport, options: BenchOptions, startedAt: Date): Promise<string> {
  const publishes = isFullRun(options) && options.out === undefined;
  const out =
    options.out ??
    (publishes
      ? path.join(PUBLISHED_DIR, 'latest.json')
      : path.join(os.tmpdir(), `counter-bench-${startedAt.getTime()}.json`));
  const files: ReportFile[] = [
    { file: out, text: jsonText(report) },
    ...(publishes ? chartFiles(report, PUBLISHED_DIR) : []),
  ];
  await writeReportFiles(files, log);
  return out;
}

async function timed<T>(what: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  log(`${what}...`);
  const result = await work();
  log(`${what}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

// The SDK clients of the handlers loaded in this process keep sockets alive: the run ends with main.
if (isEntryPoint(import.meta.url)) {
  await runEntryPoint(async () => main(parseOptions(process.argv.slice(2))), { exitWhenDone: true });
}
