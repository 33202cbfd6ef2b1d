import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { REPO_ROOT } from '../lib/constructs/node-function.ts';
import { buildAll, bundleResult, bundlesMarkdown } from './bundles.ts';
import { capacityMarkdown, measureCapacity } from './capacity.ts';
import { writeCharts } from './charts.ts';
import { computeCosts, costMarkdown } from './cost.ts';
import { cpuMarkdown, measureCpu } from './cpu.ts';
import { initMarkdown, initVariants, measureInit } from './init-time.ts';
import { keyedMarkdown, measureKeyed } from './keyed.ts';
import { type BenchService, startBenchService } from './local-service.ts';
import { type BenchOptions, isFullRun, parseOptions, UsageError } from './options.ts';
import { stdoutCapture } from './output-capture.ts';
import { ALL_PRICES } from './prices.ts';
import { codeVersion, formatAsTheRepositoryDoes } from './provenance.ts';
import { type BenchReport, summaryMarkdown, targetSummary } from './report.ts';
import { inProcessEnvironment, lambdaEnvironment, subjects } from './subjects.ts';
import { measureThroughput, throughputMarkdown } from './throughput.ts';

const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);

async function main(options: BenchOptions): Promise<void> {
  const selected = new Set(options.sections);
  const started = new Date();
  const report: BenchReport = {
    generatedAt: started.toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    code: codeVersion(['functions', 'lib', 'bench', 'package-lock.json']),
    quick: options.quick,
    sections: options.sections,
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      totalMemoryBytes: os.totalmem(),
      node: process.version,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      loadAverageAtStart: os.loadavg(),
      loadAverageAtEnd: [],
    },
    prices: ALL_PRICES,
    targets: [],
  };
  const sections: string[] = [];
  // From here until the report is printed, stdout belongs to the handlers under test.
  stdoutCapture.start();
  const work = await mkdtemp(path.join(os.tmpdir(), 'counter-bench-bundles-'));
  let bench: BenchService | undefined;
  try {
    const all = subjects();
    const needsBundles = (['bundles', 'init', 'cpu', 'capacity'] as const).some((s) => selected.has(s));
    const bundles = needsBundles
      ? await timed('bundling with the stack settings', () => buildAll(all, work))
      : new Map();
    if (selected.has('bundles')) {
      report.bundles = bundleResult(all, bundles);
      sections.push(`## Bundles\n\n${bundlesMarkdown(report.bundles)}`);
    }
    if (selected.has('init') || selected.has('cpu') || selected.has('capacity')) {
      bench = await timed('starting the local engine and tables', () => startBenchService());
    }
    if (selected.has('init') && bench !== undefined) {
      const environment = lambdaEnvironment(bench.handlerEnvironment);
      report.init = await timed(`module init, ${options.initRuns} fresh processes per bundle`, () =>
        measureInit(initVariants(all, bundles, environment), options.initRuns),
      );
      sections.push(
        `## Module init (fresh Node.js ${process.version} process per load)\n\n${initMarkdown(report.init)}`,
      );
    }
    if (selected.has('cpu') && bench !== undefined) {
      const environment = inProcessEnvironment(bench.handlerEnvironment);
      report.cpu = await timed(`warm CPU, ${options.cpuInvocations} invocations per handler`, () =>
        measureCpu(bundles, environment, { warmup: options.cpuWarmup, invocations: options.cpuInvocations }),
      );
      sections.push(`## Warm CPU per invocation\n\n${cpuMarkdown(report.cpu)}`);
    }
    if (selected.has('capacity') && bench !== undefined) {
      const service = bench.service;
      const db = new DynamoDBClient({
        endpoint: service.engineEndpoint,
        region: service.region,
        credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
      });
      try {
        const environment = inProcessEnvironment(bench.handlerEnvironment);
        report.capacity = await timed(`capacity, ${options.capacityRepeats} calls per operation`, () =>
          measureCapacity({
            bundles,
            environment,
            engineEndpoint: service.engineEndpoint,
            region: service.region,
            tables: { ...service.tables },
            db,
            repeats: options.capacityRepeats,
          }),
        );
      } finally {
        db.destroy();
      }
      report.cost = computeCosts(report.capacity);
      sections.push(`## Capacity per operation\n\n${capacityMarkdown(report.capacity)}`);
      sections.push(
        `## Price per million (us-east-1 list prices, see docs/cost.md)\n\n${costMarkdown(report.cost)}`,
      );
    }
    await bench?.stop();
    bench = undefined;
    if (selected.has('throughput')) {
      report.throughput = await timed(
        `throughput, ${options.throughputConnections} connections, ${options.throughputSeconds} s per phase`,
        () =>
          measureThroughput({
            connections: options.throughputConnections,
            seconds: options.throughputSeconds,
          }),
      );
      sections.push(
        `## Throughput on the local server (informative)\n\n${throughputMarkdown(report.throughput)}`,
      );
    }
    if (selected.has('keyed')) {
      report.keyed = await timed(
        `keyed vs plain increments of one counter, ${options.keyedClients.join('/')} clients`,
        () => measureKeyed({ clients: options.keyedClients, seconds: options.keyedSeconds }),
      );
      sections.push(`## Keyed increments of one counter\n\n${keyedMarkdown(report.keyed)}`);
    }
  } finally {
    await bench?.stop();
    await rm(work, { recursive: true, force: true });
    stdoutCapture.stop();
  }
  report.machine.loadAverageAtEnd = os.loadavg();
  report.targets = targetSummary(report);

  const out =
    options.out ??
    (isFullRun(options)
      ? path.join(REPO_ROOT, 'docs', 'benchmarks', 'latest.json')
      : path.join(os.tmpdir(), `counter-bench-${started.getTime()}.json`));
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);
  if (isFullRun(options) && options.out === undefined) {
    await writeCharts(report, path.join(REPO_ROOT, 'docs', 'benchmarks'));
    formatAsTheRepositoryDoes([out], log);
  }

  const header = [
    `# Benchmarks, ${report.generatedAt}${options.quick ? ' (--quick: smoke figures, not for quoting)' : ''}`,
    '',
    `\`${report.command}\` at ${report.code.commit.slice(0, 7)}` +
      `${report.code.uncommittedChanges.length > 0 ? ' (with uncommitted changes)' : ''} on ${report.machine.cpus} x ${report.machine.cpuModel}, Node.js ${report.machine.node}; ` +
      `load average ${report.machine.loadAverageAtStart.map((l) => l.toFixed(2)).join(' ')} at start, ` +
      `${report.machine.loadAverageAtEnd.map((l) => l.toFixed(2)).join(' ')} at end. Every finding is a ratio ` +
      'against a reference measured in the same run.',
  ].join('\n');
  process.stdout.write(
    `${[header, `## Targets\n\n${summaryMarkdown(report.targets)}`, ...sections].join('\n\n')}\n`,
  );
  log(`report written to ${path.relative(process.cwd(), out) || out}`);
}

async function timed<T>(what: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  log(`${what}...`);
  const result = await work();
  log(`${what}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

try {
  await main(parseOptions(process.argv.slice(2)));
  // The SDK clients of the handlers loaded in this process keep sockets alive; the run is over.
  process.exit(0);
} catch (error) {
  stdoutCapture.stop();
  process.stderr.write(
    `${error instanceof UsageError ? error.message : String(error instanceof Error ? error.stack : error)}\n`,
  );
  process.exit(error instanceof UsageError ? 2 : 1);
}
