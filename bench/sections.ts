/**
 * The sections of `npm run bench`, in the order they run: what each measures, how it is called, its
 * part of the printed report, and its targets. To add one: its module (measure, Markdown), its name in
 * options.ts SECTIONS with its sample sizes, its field in report.ts Findings, and its entry here.
 */

import { bundleResult, bundlesMarkdown } from './bundles.ts';
import type { BuiltBundle } from './bundling.ts';
import { measureCapacity } from './capacity.ts';
import { capacityMarkdown } from './capacity-report.ts';
import { computeCosts, costMarkdown } from './cost.ts';
import { cpuMarkdown, measureCpu } from './cpu.ts';
import { initMarkdown, initVariants, measureInit } from './init-time.ts';
import { keyedMarkdown, measureKeyed } from './keyed.ts';
import type { BenchService } from './local-service.ts';
import type { BenchOptions, Section } from './options.ts';
import {
  bundleTargets,
  capacityTargets,
  costTargets,
  cpuTargets,
  type Findings,
  initTargets,
  keyedTargets,
  type TargetCheck,
} from './report.ts';
import { inProcessEnvironment, lambdaEnvironment, type Subject } from './subjects.ts';
import { measureThroughput, throughputMarkdown } from './throughput.ts';

/** What a section may use; the bundles and the in-process service are made on first use, once. */
export interface SectionContext {
  options: BenchOptions;
  subjects: readonly Subject[];
  /** Every subject bundled with the stack's settings. */
  bundles(): Promise<ReadonlyMap<string, BuiltBundle>>;
  /** The local engine and tables in this process (bench/local-service.ts). */
  service(): Promise<BenchService>;
}

export interface BenchSection {
  /** What the progress line says while it runs. */
  doing(options: BenchOptions): string;
  /** It starts a local server of its own: the in-process service is stopped first, so the two never share the cores. */
  ownServer: boolean;
  measure(context: SectionContext): Promise<Findings>;
  /** Its part of the printed report, a `##` section each. */
  markdown(findings: Findings): string[];
  /** Its figures against their targets, for the summary at the top of the report. */
  targets(findings: Findings): TargetCheck[];
}

export const BENCH_SECTIONS: Record<Section, BenchSection> = {
  bundles: {
    doing: () => 'bundle sizes',
    ownServer: false,
    measure: async ({ subjects, bundles }) => ({ bundles: bundleResult(subjects, await bundles()) }),
    markdown: ({ bundles }) => (bundles === undefined ? [] : [`## Bundles\n\n${bundlesMarkdown(bundles)}`]),
    targets: ({ bundles }) => bundleTargets(bundles),
  },
  init: {
    doing: (options) => `module init, ${options.initRuns} fresh processes per bundle`,
    ownServer: false,
    measure: async ({ options, subjects, bundles, service }) => {
      const environment = lambdaEnvironment((await service()).handlerEnvironment);
      return {
        init: await measureInit(initVariants(subjects, await bundles(), environment), options.initRuns),
      };
    },
    markdown: ({ init }) =>
      init === undefined
        ? []
        : [`## Module init (fresh Node.js ${process.version} process per load)\n\n${initMarkdown(init)}`],
    targets: ({ init }) => initTargets(init),
  },
  cpu: {
    doing: (options) => `warm CPU, ${options.cpuInvocations} invocations per handler`,
    ownServer: false,
    measure: async ({ options, bundles, service }) => {
      const built = await bundles();
      const environment = inProcessEnvironment((await service()).handlerEnvironment);
      const sizes = { warmup: options.cpuWarmup, invocations: options.cpuInvocations };
      return { cpu: await measureCpu(built, environment, sizes) };
    },
    markdown: ({ cpu }) => (cpu === undefined ? [] : [`## Warm CPU per invocation\n\n${cpuMarkdown(cpu)}`]),
    targets: ({ cpu }) => cpuTargets(cpu),
  },
  capacity: {
    doing: (options) => `capacity, ${options.capacityRepeats} calls per operation`,
    ownServer: false,
    measure: async ({ options, bundles, service }) => {
      const built = await bundles();
      const bench = await service();
      const capacity = await measureCapacity({
        bundles: built,
        environment: inProcessEnvironment(bench.handlerEnvironment),
        service: bench.service,
        repeats: options.capacityRepeats,
      });
      return { capacity, cost: computeCosts(capacity) };
    },
    markdown: ({ capacity, cost }) => [
      ...(capacity === undefined ? [] : [`## Capacity per operation\n\n${capacityMarkdown(capacity)}`]),
      ...(cost === undefined
        ? []
        : [`## Price per million (us-east-1 list prices, see docs/cost.md)\n\n${costMarkdown(cost)}`]),
    ],
    targets: ({ capacity, cost }) => [...capacityTargets(capacity), ...costTargets(cost)],
  },
  throughput: {
    doing: (options) =>
      `throughput, ${options.throughputConnections} connections, ${options.throughputSeconds} s per phase`,
    ownServer: true,
    measure: async ({ options }) => ({
      throughput: await measureThroughput({
        connections: options.throughputConnections,
        seconds: options.throughputSeconds,
      }),
    }),
    markdown: ({ throughput }) =>
      throughput === undefined
        ? []
        : [`## Throughput on the local server (informative)\n\n${throughputMarkdown(throughput)}`],
    targets: () => [],
  },
  keyed: {
    doing: (options) => `keyed vs plain increments of one counter, ${options.keyedClients.join('/')} clients`,
    ownServer: true,
    measure: async ({ options }) => ({
      keyed: await measureKeyed({ clients: options.keyedClients, seconds: options.keyedSeconds }),
    }),
    markdown: ({ keyed }) =>
      keyed === undefined ? [] : [`## Keyed increments of one counter\n\n${keyedMarkdown(keyed)}`],
    targets: ({ keyed }) => keyedTargets(keyed),
  },
};
