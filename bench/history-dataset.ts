import { randomUUID } from 'node:crypto';
import { QueryCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { counterSeries } from '../functions/counter/service.ts';
import { historyKey } from '../functions/counter/table.ts';
import { type ConsumeResult, consume } from './history-consume.ts';
import type { HistoryBench } from './history-setup.ts';
import { ratio } from './stats.ts';

/** The data set's sizes; --quick and the size flags change them (bench/history-scale.ts). */
export interface DatasetPlan {
  /** Changes of the one big counter. */
  bigChanges: number;
  /** Counters under the big listing prefix. */
  manyCounters: number;
  /** Changes of each of those, and of each of the few. */
  changesPerCounter: number;
  /** Changes of the reference counter, which the big counter's reads are compared with. */
  referenceChanges: number;
  /** Counters under the small listing prefix. */
  fewCounters: number;
  /** The big counter's changes are spread evenly over this many days, ending at the start of today (UTC). */
  spanDays: number;
  /** The big counter's changes in flight at once while building (the other counters' come alongside). */
  concurrency: number;
  /** Stream records per consumer invocation while building. */
  batchSize: number;
}

export const NAMES = {
  big: 'hs-big',
  reference: 'hs-ref',
  manyPrefix: 'hs-many-',
  fewPrefix: 'hs-few-',
} as const;

export const ACTOR = 'arn:aws:iam::000000000000:user/history-scale-bench';

export function manyName(i: number): string {
  return `${NAMES.manyPrefix}${String(i).padStart(6, '0')}`;
}

function fewName(i: number): string {
  return `${NAMES.fewPrefix}${String(i).padStart(6, '0')}`;
}

/** The big counter's time span: whole UTC days, so a day series has exactly `spanDays` buckets. */
export interface Span {
  startMs: number;
  endMs: number;
}

export function spanOf(plan: DatasetPlan, nowMs: number): Span {
  const today = Math.floor(nowMs / 86_400_000) * 86_400_000;
  return { startMs: today - plan.spanDays * 86_400_000, endMs: today };
}

export interface Counted {
  changes: number;
  seconds: number;
}

export interface BuildResult {
  span: { start: string; end: string };
  incarnations: { big: string; reference: string };
  /** Written in `waves` rounds, each all at once (plannedWaves). */
  writes: Counted & {
    waves: number;
    largestWave: number;
    /**
     * Time to write the last tenth of the changes over the time to write the first tenth: above 1, the
     * engine slowed down as it filled (Dynoxide's writes to a table with a stream slow down with every
     * stream record it holds).
     */
    lastToFirstTenthTime: number;
  };
  consumer: ConsumeResult & { batchSize: number };
  /** Checked after the consumer finished: what the history and rollups hold. */
  verified: {
    bigEntries: number;
    bigLastVersion: number;
    referenceEntries: number;
    historyItems: number;
    bigDaySeriesCount: number;
  };
}

interface Task {
  name: string;
  atMs: number;
  by: number;
}

/**
 * Writes every change through the service's own UpdateItem (DynamoCounterRepository.increment, so
 * the stream carries real counter images), then lets the real consumer turn them into history and
 * rollups, then checks that the history holds every version.
 *
 * Each change is stamped with a synthetic time (the `now` the handler would pass) spread over the
 * span, so the history and the series cover days rather than the minutes the build takes.
 */
export async function buildDataset(
  bench: HistoryBench,
  plan: DatasetPlan,
  span: Span,
  log: (line: string) => void,
): Promise<BuildResult> {
  const waves = plannedWaves(plan, span);
  const writes = await writeWaves(bench, waves, log);
  log(`consuming ${writes.changes} stream records, ${plan.batchSize} per invocation`);
  const consumed = await consume(bench, {
    expected: writes.changes,
    batchSize: plan.batchSize,
    meterLabel: 'build: consumer',
    log,
  });
  const { incarnations, verified } = await verify(bench, span);
  const complete =
    verified.bigEntries === plan.bigChanges &&
    verified.bigLastVersion === plan.bigChanges &&
    verified.referenceEntries === plan.referenceChanges &&
    verified.historyItems === writes.changes &&
    verified.bigDaySeriesCount === plan.bigChanges &&
    !consumed.deadLettered;
  if (!complete) {
    throw new Error(
      `the history is incomplete after the consumer: ${JSON.stringify({ verified, consumed })}`,
    );
  }
  return {
    span: { start: new Date(span.startMs).toISOString(), end: new Date(span.endMs).toISOString() },
    incarnations,
    writes,
    consumer: { ...consumed, batchSize: plan.batchSize },
    verified,
  };
}

/** The waves one after another, each wave's changes all at once, metered as the counters' writes. */
async function writeWaves(
  bench: HistoryBench,
  waves: readonly Task[][],
  log: (line: string) => void,
): Promise<BuildResult['writes']> {
  const total = waves.reduce((sum, wave) => sum + wave.length, 0);
  log(`writing ${total} changes in ${waves.length} waves`);
  bench.meter.label = 'build: counters UpdateItem';
  const writeStarted = performance.now();
  let done = 0;
  // When each tenth of the changes was done, to compare the write rate at the end with the start.
  const tenths: number[] = [];
  for (const wave of waves) {
    await Promise.all(
      wave.map((task) =>
        bench.deps.repository.increment({
          name: task.name,
          by: task.by,
          actor: ACTOR,
          now: new Date(task.atMs).toISOString(),
          newIncarnation: randomUUID(),
        }),
      ),
    );
    const before = done;
    done += wave.length;
    if (Math.floor(done / 20_000) > Math.floor(before / 20_000)) log(`writes: ${done} of ${total}`);
    while (tenths.length < 10 && done >= ((tenths.length + 1) * total) / 10) {
      tenths.push(performance.now() - writeStarted);
    }
  }
  bench.meter.label = undefined;
  return {
    changes: total,
    seconds: (performance.now() - writeStarted) / 1000,
    waves: waves.length,
    largestWave: Math.max(...waves.map((wave) => wave.length)),
    // Each tenth took its share of the time; the last tenth's over the first's shows a slowdown.
    lastToFirstTenthTime: ratio(
      (tenths[9] ?? Number.NaN) - (tenths[8] ?? Number.NaN),
      tenths[0] ?? Number.NaN,
    ),
  };
}

/** What the history and rollups hold once the consumer is done, read outside the meter. */
async function verify(
  bench: HistoryBench,
  span: Span,
): Promise<Pick<BuildResult, 'incarnations' | 'verified'>> {
  const big = await bench.deps.repository.get(NAMES.big);
  const reference = await bench.deps.repository.get(NAMES.reference);
  if (big === undefined || reference === undefined)
    throw new Error('the big or reference counter is missing');
  const bigKey = historyKey(big.name, big.incarnation);
  return {
    incarnations: { big: big.incarnation, reference: reference.incarnation },
    verified: {
      bigEntries: await countPartition(bench, bigKey),
      bigLastVersion: await lastVersion(bench, bigKey),
      referenceEntries: await countPartition(bench, historyKey(reference.name, reference.incarnation)),
      historyItems: await countTable(bench, bench.tables.history),
      bigDaySeriesCount: await daySeriesCount(bench, span),
    },
  };
}

/**
 * Every change of the data set, in waves that run one after another, the changes of a wave all at
 * once. The big counter's changes come in bursts of `concurrency` (wave g's burst within one second
 * of one minute, the bursts spread evenly over the span); each wave also carries the other counters'
 * changes of its moment: the many and few counters' a few each (within one second of one minute),
 * the reference counter's one at a time, both spread over the span too.
 *
 * Why bursts and waves: a change's time is stamped before it is sent and its version assigned when it
 * is applied, so changes in flight together may take their versions in another order than their
 * times, as with Lambda instances whose clocks differ. Keeping each counter's concurrent changes
 * within one minute, and waiting for a wave before the next, keeps that disorder to a second, as
 * in production, instead of the minutes a free-running pool over synthetic times would make (which
 * would move changes across the minute rollups that since/until rely on).
 */
function plannedWaves(plan: DatasetPlan, span: Span): Task[][] {
  const width = span.endMs - span.startMs;
  const minuteAt = (fraction: number) => span.startMs + Math.floor((fraction * width) / 60_000) * 60_000;
  const burst = (name: string, count: number, fraction: number, by: (k: number) => number): Task[] =>
    Array.from({ length: count }, (_, k) => ({
      name,
      atMs: minuteAt(fraction) + k * BURST_STEP_MS,
      by: by(k),
    }));
  const groups = Math.ceil(plan.bigChanges / plan.concurrency);
  const waves = Array.from({ length: groups }, (_, g) => {
    const first = g * plan.concurrency;
    const count = Math.min(plan.concurrency, plan.bigChanges - first);
    return burst(NAMES.big, count, g / groups, (k) => 1 + ((first + k) % 5));
  });
  const others: { fraction: number; tasks: Task[] }[] = [];
  const small = plan.manyCounters + plan.fewCounters;
  for (let i = 0; i < small; i++) {
    const name = i < plan.manyCounters ? manyName(i) : fewName(i - plan.manyCounters);
    const fraction = (i + 0.5) / small;
    others.push({ fraction, tasks: burst(name, plan.changesPerCounter, fraction, () => 1) });
  }
  for (let k = 0; k < plan.referenceChanges; k++) {
    const fraction = (k + 0.5) / plan.referenceChanges;
    others.push({ fraction, tasks: burst(NAMES.reference, 1, fraction, () => 1 + (k % 5)) });
  }
  for (const { fraction, tasks } of others) {
    waves[Math.min(groups - 1, Math.floor(fraction * groups))]?.push(...tasks);
  }
  return waves;
}

/** Changes of one burst are this far apart: a burst of 16 spans under a second. */
const BURST_STEP_MS = 50;

async function countPartition(bench: HistoryBench, key: string): Promise<number> {
  let count = 0;
  let start: QueryCommand['input']['ExclusiveStartKey'];
  do {
    const page = await bench.db.send(
      new QueryCommand({
        TableName: bench.tables.history,
        KeyConditionExpression: '#counter = :counter',
        ExpressionAttributeNames: { '#counter': 'counter' },
        ExpressionAttributeValues: { ':counter': { S: key } },
        Select: 'COUNT',
        ExclusiveStartKey: start,
      }),
    );
    count += page.Count ?? 0;
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  return count;
}

async function lastVersion(bench: HistoryBench, key: string): Promise<number> {
  const { Items = [] } = await bench.db.send(
    new QueryCommand({
      TableName: bench.tables.history,
      KeyConditionExpression: '#counter = :counter',
      ExpressionAttributeNames: { '#counter': 'counter' },
      ExpressionAttributeValues: { ':counter': { S: key } },
      ScanIndexForward: false,
      Limit: 1,
    }),
  );
  return Number(Items[0]?.version?.N ?? Number.NaN);
}

async function countTable(bench: HistoryBench, table: string): Promise<number> {
  let count = 0;
  let start: ScanCommand['input']['ExclusiveStartKey'];
  do {
    const page = await bench.db.send(
      new ScanCommand({ TableName: table, Select: 'COUNT', ExclusiveStartKey: start }),
    );
    count += page.Count ?? 0;
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  return count;
}

/** The big counter's changes as its day rollups count them: the series must add up to the history. */
async function daySeriesCount(bench: HistoryBench, span: Span): Promise<number> {
  const { items } = await counterSeries(bench.deps, {
    name: NAMES.big,
    interval: 'day',
    limit: 1440,
    since: new Date(span.startMs).toISOString(),
    until: new Date(span.endMs).toISOString(),
  });
  return items.reduce((sum, bucket) => sum + bucket.count, 0);
}
