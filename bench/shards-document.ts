/**
 * What one run of `npm run bench:shards` records, and docs/benchmarks/shards.json, which gathers the
 * published runs (one per settings).
 */
import { readFileSync } from 'node:fs';
import type { ItemRateLimit } from './item-rate-proxy.ts';
import type { Machine } from './provenance.ts';
import type { Summary } from './stats.ts';

/** DynamoDB's per-item (per-partition) write ceiling, for the reader's scale. */
export const AWS_ITEM_WRITE_UNITS_PER_SECOND = 1000;
/** And its read ceiling: three times the write one. */
export const AWS_ITEM_READ_UNITS_PER_SECOND = 3000;
/** The history consumer is done with a phase once it has tried no write for this long. */
export const CONSUMER_QUIET_MS = 3000;
export const CONSUMER_DRAIN_MAX_MS = 30_000;

/** One load phase's answers, as the client saw them. */
export interface Load {
  seconds: number;
  /** Increments acknowledged: 200 and 204 answers, each an applied change. */
  acknowledged: number;
  /** 200 answers: the change, and the counter read after it. */
  ok: number;
  /** 204 answers: the change, without the counter. */
  noContent: number;
  /**
   * Of the 204s, those with `Preference-Applied: return=minimal` (asked for by --minimal); the others
   * are increments of a sharded counter whose read after the change failed.
   */
  preferenceApplied: number;
  throttled: number;
  /** Answers other than 200, 204 and 429, by status (0: no answer). */
  other: Record<string, number>;
  /** The first few of those answers' bodies, to say what they were. */
  otherBodies: string[];
  /** 429s without a Retry-After header (the contract promises one). */
  throttledWithoutRetryAfter: number;
  /** The 429 problems' `type`s, by count. */
  throttledTypes: Record<string, number>;
  /** Of the acknowledged answers, 200 and 204 alike. */
  acknowledgedLatencyMs: Summary;
  throttledLatencyMs: Summary;
}

export interface ShardRow {
  shards: number;
  counter: string;
  /** N x the per-item limit: what DynamoDB (here, the proxy) lets through at most. */
  ceilingPerSecond: number;
  load: Load;
  /** Acknowledged increments (200 and 204) per second. */
  acknowledgedPerSecond: number;
  /** 200 answers per second: increments answered with the counter read after them. */
  okPerSecond: number;
  /** 429s among all answers. */
  throttledShare: number;
  /** acknowledgedPerSecond / ceilingPerSecond. */
  ofCeiling: number;
  /** acknowledgedPerSecond / the N = 1 row's, in this run. */
  againstOneShard: number;
  finalValue: number;
  /** Write units the proxy forwarded to the counter's items in the phase; `acknowledged` if each took one UpdateItem. */
  writesForwarded: number;
  /** Read units the proxy forwarded from the counter's items in the phase (only counted with --read-limit). */
  readsForwarded: number;
  /** Forwarded writes (of any table) the engine refused in the phase, by error type. */
  engineRefusals: Record<string, number>;
  /** Reads the proxy refused in the phase, by table (only with --read-limit). */
  throttledReads: Record<string, number>;
  /** Write units per item of the counter in the phase: how the increments spread over the shards. */
  shardItems: { written: number; minUnits: number; maxUnits: number };
  /** Writes of the other tables (the history consumer's) in the phase and until it went quiet. */
  consumer: {
    forwardedWrites: Record<string, number>;
    throttledWrites: Record<string, number>;
    /** Seconds from the end of the load to the consumer's last write attempt before 3 s of none; capped at 30. */
    drainSeconds: number;
    drained: boolean;
    /** The counter's history entries when the wait ended, against its acknowledged + 1 changes (the PUT too). */
    historyEntries: number;
    /** The same at the end of the run, once the consumer had caught up with the limit lifted. */
    historyEntriesAtEnd: number;
  };
}

export interface ShardsReport {
  generatedAt: string;
  finishedAt: string;
  command: string;
  quick: boolean;
  code: {
    commit: string;
    /** `HEAD snapshot`: the commit's files (git archive); `working tree`: with `uncommittedChanges`. */
    served: 'HEAD snapshot' | 'working tree';
    uncommittedChanges: string[];
    headAtEnd?: string | undefined;
  };
  machine: Machine;
  settings: {
    connections: number;
    secondsPerPhase: number;
    limit: ItemRateLimit;
    /** `Prefer: return=minimal` on every increment. */
    minimal: boolean;
    awsItemWriteUnitsPerSecond: number;
    awsItemReadUnitsPerSecond: number;
  };
  /** The same load on a plain counter with no limit, before and after the shard phases. */
  unlimited: { before: Load; after: Load; okPerSecond: number };
  rows: ShardRow[];
  /** Lines in the local server's dead-letter file at the end (history batches given up on). */
  deadLetters: number;
  /**
   * The local server's error log lines (POWERTOOLS_LOG_LEVEL=ERROR): how many, the first few, and
   * (runs since the count was added) how many of each message and error name.
   */
  serverErrors: { lines: number; first: string[]; kinds?: Record<string, number> };
}

/** docs/benchmarks/shards.json: every run of the published settings, one per settings. */
export interface ShardsDocument {
  runs: ShardsReport[];
}

/** The settings that make two runs the same experiment: a new run replaces an old one of the same. */
function settingsKey(report: ShardsReport): string {
  const { settings } = report;
  return JSON.stringify([
    report.quick,
    settings.connections,
    settings.secondsPerPhase,
    settings.limit.writesPerSecond,
    settings.limit.burst,
    settings.limit.readsPerSecond ?? null,
    settings.minimal,
    report.rows.map((row) => row.shards),
  ]);
}

/** The runs in shards.json; a file of another shape (the single report before --minimal) starts afresh. */
export function readDocument(file: string, log: (line: string) => void): ShardsDocument {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { runs: [] };
  }
  const parsed: unknown = JSON.parse(text);
  const runs =
    typeof parsed === 'object' && parsed !== null && 'runs' in parsed && Array.isArray(parsed.runs)
      ? (parsed.runs as ShardsReport[])
      : [];
  if (runs.length === 0) log(`${file} holds no runs of this format: it will hold this run only`);
  return { runs };
}

/** The document with this run in place of any of the same settings: write limit only first, then reads limited, then minimal. */
export function withRun(document: ShardsDocument, report: ShardsReport): ShardsDocument {
  const key = settingsKey(report);
  const order = (run: ShardsReport) => [
    run.settings.limit.readsPerSecond ?? 0,
    run.settings.minimal ? 1 : 0,
    run.settings.limit.writesPerSecond,
  ];
  const runs = [...document.runs.filter((run) => settingsKey(run) !== key), report].sort((a, b) => {
    const [x, y] = [order(a), order(b)];
    for (let i = 0; i < x.length; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
    return a.generatedAt.localeCompare(b.generatedAt);
  });
  return { runs };
}

/** Whether some of the run's increments answered 204 because their read after the write failed. */
export function readBackFell(report: ShardsReport): boolean {
  return report.rows.some((row) => row.load.noContent > row.load.preferenceApplied);
}

/** The run's settings in a few words, for the chart's legend and the summary's columns. */
export function chartLabel(report: ShardsReport): string {
  const { limit, minimal } = report.settings;
  return `${limit.readsPerSecond === undefined ? 'reads unlimited' : `reads ${limit.readsPerSecond}/s`}${minimal ? ', Prefer: return=minimal' : ''}`;
}
