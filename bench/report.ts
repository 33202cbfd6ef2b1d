import type { BundlesResult } from './bundles.ts';
import type { CapacityResult } from './capacity.ts';
import { type CostResult, KEYED_PRICE_TARGET } from './cost.ts';
import type { CpuResult } from './cpu.ts';
import type { InitResult } from './init-time.ts';
import { KEYED_RATE_TARGET, type KeyedResult } from './keyed.ts';
import type { ALL_PRICES } from './prices.ts';
import { floorVerdict, formatDollars, formatRatio, markdownTable, type Verdict, verdict } from './stats.ts';
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
  keyed?: KeyedResult;
  targets: TargetCheck[];
}

export function targetSummary(report: {
  bundles?: BundlesResult | undefined;
  init?: InitResult | undefined;
  cpu?: CpuResult | undefined;
  capacity?: CapacityResult | undefined;
  cost?: CostResult | undefined;
  keyed?: KeyedResult | undefined;
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
  if (report.cost !== undefined) {
    const keyedRatio = report.cost.keyedIncrementPerMillion / report.cost.plainIncrementPerMillion;
    checks.push({
      target: 'price per million keyed increments / plain',
      subject: 'increment-counter with Idempotency-Key',
      figure: keyedRatio,
      shown: `${formatRatio(keyedRatio)} (${formatDollars(report.cost.keyedIncrementPerMillion)})`,
      limit: '<= 1.3x',
      verdict: verdict(keyedRatio, KEYED_PRICE_TARGET),
    });
  }
  const keyedRows = report.keyed?.rows ?? [];
  for (const row of keyedRows) {
    checks.push({
      target: 'keyed increments/s / plain, one counter',
      subject: `${row.clients} client${row.clients === 1 ? '' : 's'}`,
      figure: row.ratio,
      shown: formatRatio(row.ratio),
      limit: '>= 0.5x',
      verdict: floorVerdict(row.ratio, KEYED_RATE_TARGET),
    });
  }
  const widest = keyedRows.at(-1);
  const narrowest = keyedRows[0];
  if (widest !== undefined && narrowest !== undefined && widest !== narrowest) {
    checks.push({
      target: `keyed 429s at ${widest.clients} clients on an unsharded counter`,
      subject: 'increment-counter with Idempotency-Key',
      figure: widest.throttled,
      shown: String(widest.throttled),
      limit: '0',
      verdict: widest.throttled === 0 ? 'met' : 'missed',
    });
    const same = widest.keyedCallsPerIncrement === narrowest.keyedCallsPerIncrement;
    checks.push({
      target: `DynamoDB calls per keyed increment, ${widest.clients} clients vs ${narrowest.clients}`,
      subject: 'increment-counter with Idempotency-Key',
      figure: widest.keyedCallsPerIncrement,
      shown: `${widest.keyedCallsPerIncrement.toFixed(2)} vs ${narrowest.keyedCallsPerIncrement.toFixed(2)}`,
      limit: 'the same',
      verdict: Number.isFinite(widest.keyedCallsPerIncrement) ? (same ? 'met' : 'missed') : 'unknown',
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
