/**
 * The report of `npm run bench`: its shape (docs/benchmarks/latest.json), each section's figures held
 * against issue 6's and issue 12's targets, and the Markdown printed at the end of a run.
 */
import type { BundlesResult } from './bundles.ts';
import type { CapacityResult } from './capacity-report.ts';
import { type CostResult, KEYED_PRICE_TARGET } from './cost.ts';
import type { CpuResult } from './cpu.ts';
import type { InitResult } from './init-time.ts';
import { KEYED_RATE_TARGET, type KeyedResult } from './keyed.ts';
import type { ALL_PRICES } from './prices.ts';
import type { Machine } from './provenance.ts';
import { floorVerdict, formatDollars, formatRatio, markdownTable, type Verdict, verdict } from './stats.ts';
import type { ThroughputResult } from './throughput.ts';

/** One target against one subject: the figure, its limit, and whether it was met. */
export interface TargetCheck {
  target: string;
  subject: string;
  figure: number;
  shown: string;
  limit: string;
  verdict: Verdict;
}

/** What the sections found, each under its own name; a section that did not run leaves its name out. */
export interface Findings {
  bundles?: BundlesResult;
  init?: InitResult;
  cpu?: CpuResult;
  capacity?: CapacityResult;
  cost?: CostResult;
  throughput?: ThroughputResult;
  keyed?: KeyedResult;
}

/** Everything one run found; docs/benchmarks/latest.json holds the last full one. */
export interface BenchReport extends Findings {
  generatedAt: string;
  command: string;
  code: { commit: string; uncommittedChanges: string[] };
  quick: boolean;
  sections: string[];
  machine: Machine;
  prices: typeof ALL_PRICES;
  targets: TargetCheck[];
}

export function bundleTargets(bundles: BundlesResult | undefined): TargetCheck[] {
  return (bundles?.rows ?? [])
    .filter((row) => row.kind !== 'reference')
    .map((row) => ({
      target: 'bundle size / reference',
      subject: row.id,
      figure: row.ratio,
      shown: formatRatio(row.ratio),
      limit: '<= 2x',
      verdict: verdict(row.ratio, bundles?.target ?? { max: 2, label: '' }),
    }));
}

export function initTargets(init: InitResult | undefined): TargetCheck[] {
  return (init?.rows ?? [])
    .filter((row) => row.kind !== 'reference' && !row.informative)
    .map((row) => ({
      target: 'module init median / reference',
      subject: row.id,
      figure: row.ratio,
      shown: `${formatRatio(row.ratio)} (paired ${formatRatio(row.pairedRatio)}, min ${formatRatio(row.minRatio)})`,
      limit: '<= 1.5x',
      verdict: verdict(row.ratio, init?.target ?? { max: 1.5, label: '' }),
    }));
}

export function cpuTargets(cpu: CpuResult | undefined): TargetCheck[] {
  return (cpu?.rows ?? []).map((row) => ({
    target: 'warm CPU median / reference',
    subject: `${row.handler.id} (${row.name})`,
    figure: row.ratioMedian,
    shown: `${formatRatio(row.ratioMedian)} (mean ${formatRatio(row.ratioMean)}, paired ${formatRatio(row.pairedRatio)})`,
    limit: '<= 1.2x',
    verdict: verdict(row.ratioMedian, cpu?.target ?? { max: 1.2, label: '' }),
  }));
}

export function capacityTargets(capacity: CapacityResult | undefined): TargetCheck[] {
  if (capacity === undefined) return [];
  const writes = capacity.plainIncrementCounterWrites;
  return [
    {
      target: 'counters-table write requests per plain increment',
      subject: 'increment-counter',
      figure: writes,
      shown: String(writes),
      limit: 'exactly 1',
      verdict: Number.isFinite(writes) ? (writes === 1 ? 'met' : 'missed') : 'unknown',
    },
  ];
}

export function costTargets(cost: CostResult | undefined): TargetCheck[] {
  if (cost === undefined) return [];
  const price = cost.plainIncrementPerMillion;
  const keyedRatio = cost.keyedIncrementPerMillion / cost.plainIncrementPerMillion;
  return [
    {
      target: 'price per million plain increments (quiet traffic)',
      subject: 'increment-counter + history',
      figure: price,
      shown: formatDollars(price),
      limit: '<= $3.50',
      verdict: verdict(price, cost.target),
    },
    {
      target: 'price per million keyed increments / plain',
      subject: 'increment-counter with Idempotency-Key',
      figure: keyedRatio,
      shown: `${formatRatio(keyedRatio)} (${formatDollars(cost.keyedIncrementPerMillion)})`,
      limit: '<= 1.3x',
      verdict: verdict(keyedRatio, KEYED_PRICE_TARGET),
    },
  ];
}

/** Issue 12: the keyed rate at every client count; at the widest, no 429 and the same calls as the narrowest. */
export function keyedTargets(keyed: KeyedResult | undefined): TargetCheck[] {
  const rows = keyed?.rows ?? [];
  const checks: TargetCheck[] = rows.map((row) => ({
    target: 'keyed increments/s / plain, one counter',
    subject: `${row.clients} client${row.clients === 1 ? '' : 's'}`,
    figure: row.ratio,
    shown: formatRatio(row.ratio),
    limit: '>= 0.5x',
    verdict: floorVerdict(row.ratio, KEYED_RATE_TARGET),
  }));
  const widest = rows.at(-1);
  const narrowest = rows[0];
  if (widest === undefined || narrowest === undefined || widest === narrowest) return checks;
  const same = widest.keyedCallsPerIncrement === narrowest.keyedCallsPerIncrement;
  return [
    ...checks,
    {
      target: `keyed 429s at ${widest.clients} clients on an unsharded counter`,
      subject: 'increment-counter with Idempotency-Key',
      figure: widest.throttled,
      shown: String(widest.throttled),
      limit: '0',
      verdict: widest.throttled === 0 ? 'met' : 'missed',
    },
    {
      target: `DynamoDB calls per keyed increment, ${widest.clients} clients vs ${narrowest.clients}`,
      subject: 'increment-counter with Idempotency-Key',
      figure: widest.keyedCallsPerIncrement,
      shown: `${widest.keyedCallsPerIncrement.toFixed(2)} vs ${narrowest.keyedCallsPerIncrement.toFixed(2)}`,
      limit: 'the same',
      verdict: Number.isFinite(widest.keyedCallsPerIncrement) ? (same ? 'met' : 'missed') : 'unknown',
    },
  ];
}

export function summaryMarkdown(checks: readonly TargetCheck[]): string {
  if (checks.length === 0) return 'No target was measured in this run.';
  return markdownTable(
    ['target', 'subject', 'figure', 'limit', 'verdict'],
    checks.map((check) => [check.target, check.subject, check.shown, check.limit, check.verdict]),
  );
}

/** The printed report: where and when it was measured, the targets, then each section's part. */
export function reportMarkdown(report: BenchReport, sections: readonly string[]): string {
  const { machine, code } = report;
  const header = [
    `# Benchmarks, ${report.generatedAt}${report.quick ? ' (--quick: smoke figures, not for quoting)' : ''}`,
    '',
    `\`${report.command}\` at ${code.commit.slice(0, 7)}` +
      `${code.uncommittedChanges.length > 0 ? ' (with uncommitted changes)' : ''} on ${machine.cpus} x ${machine.cpuModel}, Node.js ${machine.node}; ` +
      `load average ${machine.loadAverageAtStart.map((l) => l.toFixed(2)).join(' ')} at start, ` +
      `${machine.loadAverageAtEnd.map((l) => l.toFixed(2)).join(' ')} at end. Every finding is a ratio ` +
      'against a reference measured in the same run.',
  ].join('\n');
  return `${[header, `## Targets\n\n${summaryMarkdown(report.targets)}`, ...sections].join('\n\n')}\n`;
}
