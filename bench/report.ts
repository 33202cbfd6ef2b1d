import type { BundlesResult } from './bundles.ts';
import type { CapacityResult } from './capacity.ts';
import type { CostResult } from './cost.ts';
import type { CpuResult } from './cpu.ts';
import type { InitResult } from './init-time.ts';
import type { ALL_PRICES } from './prices.ts';
import { formatDollars, formatRatio, markdownTable, type Verdict, verdict } from './stats.ts';
import type { ThroughputResult } from './throughput.ts';

/** One target of issue 6 against one subject: the figure, its limit, and whether it was met. */
export interface TargetCheck {
  target: string;
  subject: string;
  figure: number;
  shown: string;
  limit: string;
  verdict: Verdict;
}

/** Everything one run found; docs/benchmarks/latest.json holds the last full one. */
export interface BenchReport {
  generatedAt: string;
  command: string;
  code: { commit: string; uncommittedChanges: string[] };
  quick: boolean;
  sections: string[];
  machine: {
    cpus: number;
    cpuModel: string;
    totalMemoryBytes: number;
    node: string;
    platform: string;
    loadAverageAtStart: number[];
    loadAverageAtEnd: number[];
  };
  prices: typeof ALL_PRICES;
  bundles?: BundlesResult;
  init?: InitResult;
  cpu?: CpuResult;
  capacity?: CapacityResult;
  cost?: CostResult;
  throughput?: ThroughputResult;
  targets: TargetCheck[];
}

export function targetSummary(report: {
  bundles?: BundlesResult | undefined;
  init?: InitResult | undefined;
  cpu?: CpuResult | undefined;
  capacity?: CapacityResult | undefined;
  cost?: CostResult | undefined;
}): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const row of report.bundles?.rows ?? []) {
    if (row.kind === 'reference') continue;
    checks.push({
      target: 'bundle size / reference',
      subject: row.id,
      figure: row.ratio,
      shown: formatRatio(row.ratio),
      limit: '<= 2x',
      verdict: verdict(row.ratio, report.bundles?.target ?? { max: 2, label: '' }),
    });
  }
  for (const row of report.init?.rows ?? []) {
    if (row.kind === 'reference' || row.informative) continue;
    checks.push({
      target: 'module init median / reference',
      subject: row.id,
      figure: row.ratio,
      shown: `${formatRatio(row.ratio)} (paired ${formatRatio(row.pairedRatio)}, min ${formatRatio(row.minRatio)})`,
      limit: '<= 1.5x',
      verdict: verdict(row.ratio, report.init?.target ?? { max: 1.5, label: '' }),
    });
  }
  for (const row of report.cpu?.rows ?? []) {
    checks.push({
      target: 'warm CPU median / reference',
      subject: `${row.handler.id} (${row.name})`,
      figure: row.ratioMedian,
      shown: `${formatRatio(row.ratioMedian)} (mean ${formatRatio(row.ratioMean)}, paired ${formatRatio(row.pairedRatio)})`,
      limit: '<= 1.2x',
      verdict: verdict(row.ratioMedian, report.cpu?.target ?? { max: 1.2, label: '' }),
    });
  }
  if (report.capacity !== undefined) {
    const writes = report.capacity.plainIncrementCounterWrites;
    checks.push({
      target: 'counters-table write requests per plain increment',
      subject: 'increment-counter',
      figure: writes,
      shown: String(writes),
      limit: 'exactly 1',
      verdict: Number.isFinite(writes) ? (writes === 1 ? 'met' : 'missed') : 'unknown',
    });
  }
  if (report.cost !== undefined) {
    const price = report.cost.plainIncrementPerMillion;
    checks.push({
      target: 'price per million plain increments (quiet traffic)',
      subject: 'increment-counter + history',
      figure: price,
      shown: formatDollars(price),
      limit: '<= $3.50',
      verdict: verdict(price, report.cost.target),
    });
  }
  return checks;
}

export function summaryMarkdown(checks: readonly TargetCheck[]): string {
  if (checks.length === 0) return 'No target was measured in this run.';
  return markdownTable(
    ['target', 'subject', 'figure', 'limit', 'verdict'],
    checks.map((check) => [check.target, check.subject, check.shown, check.limit, check.verdict]),
  );
}
