/** What `npm run bench:local-store` finds (its JSON with `--out FILE`), and its printed summary. */
import type { RawPhase } from './load-driver.ts';
import type { Machine } from './provenance.ts';
import { formatMs, formatRatio, markdownTable, percentile } from './stats.ts';

/** The history watcher reads the counter's history this often while lag is measured. */
export const POLL_MS = 100;

export interface PhaseFigures {
  requests: number;
  errors: number;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export interface LagFigures {
  rate: number;
  seconds: number;
  acknowledged: number;
  errors: number;
  /** Changes whose history entry never showed within the give-up time. */
  missing: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface LocalStoreReport {
  generatedAt: string;
  command: string;
  code: { commit: string; uncommittedChanges: string[] };
  engine: string;
  machine: Machine;
  connections: number;
  fresh: PhaseFigures;
  growth: PhaseFigures & { changesAfter: number; catchUpSeconds: number; caughtUp: boolean };
  /** The grown store, measured in turns with `freshAlongside`. */
  grown: PhaseFigures;
  /** A second server on a fresh store, measured in turns with the grown one. */
  freshAlongside: PhaseFigures;
  /** grown / freshAlongside increments a second: issue 13 asks at least 0.8. */
  grownOverFresh: number;
  /** grown / the first store's own fresh phase, minutes earlier under whatever load there was then. */
  grownOverFreshAtStart: number;
  lag: LagFigures;
  /** Stream records in the engine's file at the end. */
  streamRecords: number | undefined;
}

/** Rounds measured in turns with others, as one phase. */
export function figuresOfRounds(rounds: readonly RawPhase[]): PhaseFigures {
  const latencies = rounds.flatMap((round) => round.latencies);
  const requests = rounds.reduce((sum, round) => sum + round.requests, 0);
  const seconds = rounds.reduce((sum, round) => sum + round.seconds, 0);
  return {
    requests,
    errors: rounds.reduce((sum, round) => sum + round.errors, 0),
    seconds,
    requestsPerSecond: requests / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

export function figures(phase: RawPhase): PhaseFigures {
  return {
    requests: phase.requests,
    errors: phase.errors,
    seconds: phase.seconds,
    requestsPerSecond: phase.requestsPerSecond,
    p50Ms: phase.latencyMs.median,
    p99Ms: phase.latencyMs.p99,
  };
}

export function localStoreMarkdown(report: LocalStoreReport): string {
  const row = (name: string, phase: PhaseFigures) => [
    name,
    String(phase.requests),
    String(phase.errors),
    phase.requestsPerSecond.toFixed(0),
    formatMs(phase.p50Ms),
    formatMs(phase.p99Ms),
  ];
  const { lag } = report;
  return [
    `Run of ${report.generatedAt} (\`${report.command}\`) at ${report.code.commit.slice(0, 7)}` +
      `${report.code.uncommittedChanges.length > 0 ? ' (with uncommitted changes)' : ''}, ${report.engine}, ` +
      `Node.js ${report.machine.node}, ${report.machine.cpus} CPUs, load ${report.machine.loadAverageAtStart[0]?.toFixed(1)} ` +
      `at start and ${report.machine.loadAverageAtEnd[0]?.toFixed(1)} at end.`,
    '',
    markdownTable(
      ['phase', 'requests', 'errors', 'increments/s', 'p50', 'p99'],
      [
        row('fresh store (at start)', report.fresh),
        row(`growth to ${report.growth.changesAfter} changes`, report.growth),
        row('grown store (in turns)', report.grown),
        row('second fresh store (in turns)', report.freshAlongside),
      ],
    ),
    '',
    `${report.connections} connections. Grown / fresh, measured in turns: **${formatRatio(report.grownOverFresh)}** ` +
      `(issue 13: at least 0.80x); grown / the same store fresh at the start: ` +
      `${formatRatio(report.grownOverFreshAtStart)}. History ${report.growth.caughtUp ? 'caught up' : 'had not caught up'} ` +
      `${report.growth.catchUpSeconds.toFixed(1)} s after the growth ended. Stream records in the engine at the end: ` +
      `${report.streamRecords ?? 'unknown'}.`,
    '',
    `History lag on the grown store at ${lag.rate} increments/s for ${lag.seconds} s (${lag.acknowledged} ` +
      `acknowledged, ${lag.errors} errors, ${lag.missing} never shown): p50 **${formatMs(lag.p50Ms)}**, ` +
      `p90 ${formatMs(lag.p90Ms)}, p99 ${formatMs(lag.p99Ms)}, max ${formatMs(lag.maxMs)} (contract: within 5 s; ` +
      `polled every ${POLL_MS} ms).`,
  ].join('\n');
}
