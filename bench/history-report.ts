import type { BuildResult, DatasetPlan } from './history-dataset.ts';
import type { PurgeResult } from './history-purge.ts';
import { READ_TARGET, type ReadResult } from './history-reads.ts';
import type { WriteResult } from './history-writes.ts';
import { formatMs, formatRatio, markdownTable, type Target } from './stats.ts';

export interface Machine {
  cpus: number;
  cpuModel: string;
  totalMemoryBytes: number;
  node: string;
  platform: string;
  engine: string;
  /** os.loadavg(): 1, 5 and 15 minute load averages; on 2 cores, above 2 means others were busy too. */
  loadAverageAtStart: number[];
  loadAverageAtEnd: number[];
}

export interface HistoryScaleReport {
  generatedAt: string;
  finishedAt: string;
  command: string;
  quick: boolean;
  /** The commit whose code ran (taken at the start); `headAtEnd` if someone committed during the run. */
  code: { commit: string; uncommittedChanges: string[]; headAtEnd?: string | undefined };
  machine: Machine;
  plan: DatasetPlan;
  target: Target;
  build: BuildResult & {
    /** Consumer changes/s over writer changes/s, both measured here: above 1, the consumer keeps up. */
    consumerToWriteRate: number;
    /** Everything the build wrote, per change (the counters' creations included). */
    capacity: {
      counterWriteUnitsPerChange: number;
      consumerWriteUnitsPerChange: number;
      consumerRequestsPerChange: string;
    };
  };
  reads: ReadResult[];
  writes: WriteResult[];
  purge: PurgeResult;
  /** Metered requests whose answer had no ConsumedCapacity; zero means every unit came from the engine. */
  unreportedCapacity: number;
}

/** The size the issue asks for; the default of \`npm run bench:history\`. */
const ISSUE_SIZE = { bigChanges: 100_000, manyCounters: 10_000 };

const formatPercent = (share: number) => (Number.isFinite(share) ? `${Math.round(share * 100)}%` : 'n/a');

const units = (value: number) => String(Number(value.toFixed(3)));
const load = (values: readonly number[]) => values.map((value) => value.toFixed(2)).join(' / ');

export function historyScaleMarkdown(report: HistoryScaleReport): string {
  const { plan, build } = report;
  const issueReads = report.reads.filter((read) => read.kind === 'issue');
  const met = issueReads.filter((read) => read.verdict === 'met').length;
  const readTable = markdownTable(
    [
      'read',
      'big data set',
      'reference',
      'items (big / ref)',
      'ratio of medians',
      'ratio of p90s',
      'paired ratio',
      `target <= ${READ_TARGET.max}x`,
    ],
    report.reads.map((read) => [
      read.title,
      read.big.request,
      read.reference.request,
      `${read.big.items} / ${read.reference.items}`,
      formatRatio(read.ratioMedian),
      formatRatio(read.ratioP90),
      formatRatio(read.pairedRatio),
      read.kind === 'issue' ? read.verdict : `(${read.verdict}, control)`,
    ]),
  );
  const rawTable = markdownTable(
    ['read', 'big median / p90', 'reference median / p90'],
    report.reads.map((read) => [
      read.title,
      `${formatMs(read.big.wallMs.median)} / ${formatMs(read.big.wallMs.p90)}`,
      `${formatMs(read.reference.wallMs.median)} / ${formatMs(read.reference.wallMs.p90)}`,
    ]),
  );
  const readCapacity = markdownTable(
    ['read', 'RCU big', 'RCU reference', 'DynamoDB requests per call (big)', '(reference)'],
    report.reads.map((read) => [
      read.title,
      units(read.big.readUnits),
      units(read.reference.readUnits),
      read.big.requests,
      read.reference.requests,
    ]),
  );
  const writeCapacity = markdownTable(
    [
      'changes of one counter',
      'changes',
      'invocations (largest batch)',
      'counter UpdateItem WCU',
      'consumer WCU',
      'total WCU per change',
      'consumer requests per change',
    ],
    [
      ...report.writes.map((write) => [
        write.title,
        String(write.changes),
        `${write.invocations} (${write.largestBatch})`,
        units(write.counterWriteUnits),
        units(write.consumerWriteUnits),
        units(write.totalWriteUnits),
        write.consumerRequests,
      ]),
      [
        `the whole build (${build.writes.changes} changes of ${plan.manyCounters + plan.fewCounters + 2} counters, batches of ${plan.batchSize})`,
        String(build.writes.changes),
        `${build.consumer.invocations} (${build.consumer.largestBatch})`,
        units(build.capacity.counterWriteUnitsPerChange),
        units(build.capacity.consumerWriteUnitsPerChange),
        units(build.capacity.counterWriteUnitsPerChange + build.capacity.consumerWriteUnitsPerChange),
        build.capacity.consumerRequestsPerChange,
      ],
    ],
  );
  const purgeTable = markdownTable(
    ['deleted counter', 'history entries', 'consumer WCU', 'consumer RCU', 'consumer requests'],
    [report.purge.big, report.purge.reference].map((side) => [
      side.counter,
      side.changes.toLocaleString('en-US'),
      units(side.writeUnits),
      units(side.readUnits),
      side.requests,
    ]),
  );
  // A literal comparison that returns more entries on the big side also counts handling them.
  const unequal = issueReads
    .filter((read) => read.big.items !== read.reference.items)
    .map(
      (read) =>
        `- ${read.title}: the big side returns ${read.big.items} items, the reference ${read.reference.items}, so its ratio ` +
        'also counts transferring and parsing the extra items, not only the size of the data behind them.',
    );
  const writeRate = build.writes.changes / build.writes.seconds;
  const consumerRate = build.consumer.records / build.consumer.seconds;
  return `# History at scale: measured

Generated by \`${report.command}\` on ${report.generatedAt} (finished ${report.finishedAt}), commit
\`${report.code.commit.slice(0, 12)}\`${report.code.uncommittedChanges.length === 0 ? '' : ` with uncommitted changes in ${report.code.uncommittedChanges.join(', ')}`}${report.code.headAtEnd === undefined ? '' : ` (HEAD moved to \`${report.code.headAtEnd.slice(0, 12)}\` during the run; the code measured is the starting commit's, loaded at the start)`}.
${report.quick ? '\n**A --quick run: small samples on a small data set, not figures to quote.**\n' : ''}
Regenerate with \`npm run bench:history\` (the full run writes this file and
\`docs/benchmarks/history-scale.json\`; \`-- --quick\` writes to a temporary directory instead). The design
measured is [docs/history.md](../history.md); the harness is \`bench/history-scale.ts\` and its
\`bench/history-*.ts\` helpers.

## Where and how

- Machine: ${report.machine.cpus} cores (${report.machine.cpuModel}), ${report.machine.platform}, Node ${report.machine.node};
  shared with other engineers' test runs. Load average (1 / 5 / 15 min) at start ${load(report.machine.loadAverageAtStart)},
  at end ${load(report.machine.loadAverageAtEnd)}.
- Engine: ${report.machine.engine}, in a temporary file, started by \`startEngine({})\` (\`lib/local/engine.ts\`), with the
  stack's tables (\`lib/table-schemas.ts\`).
- Times on this machine say little by themselves: every finding below is a **ratio** against a reference
  request measured in the same run, in alternation with it (${report.reads[0]?.big.wallMs.n ?? 0} measured rounds per read after
  warm-up, the order alternating each round). The raw times are listed at the end for completeness only.
- Capacity units are what the engine returned for \`ReturnConsumedCapacity: TOTAL\`, asked for on every
  request of the service's and the consumer's own DynamoDB clients by a client middleware
  (\`bench/history-meter.ts\`). ${report.unreportedCapacity === 0 ? 'Every metered request came back with ConsumedCapacity, so no figure is computed by hand.' : `${report.unreportedCapacity} metered requests came back without ConsumedCapacity; their units are missing from the figures.`}

## The data set
${
  !report.quick && (plan.bigChanges < ISSUE_SIZE.bigChanges || plan.manyCounters < ISSUE_SIZE.manyCounters)
    ? `
**Smaller than the issue's data set** (${ISSUE_SIZE.bigChanges.toLocaleString('en-US')} changes on one counter, ${ISSUE_SIZE.manyCounters.toLocaleString('en-US')} counters): the local
engine's writes slow down with every stream record it holds (below), so the full size does not fit in
about 15 minutes on this machine; see [docs/history.md](../history.md#measured). \`npm run bench:history\`
with no size flags builds the full size.
`
    : ''
}
- One counter (\`hs-big\`) with ${plan.bigChanges.toLocaleString('en-US')} changes, ${plan.manyCounters.toLocaleString('en-US')} counters under the prefix \`hs-many-\`
  with ${plan.changesPerCounter} changes each, ${plan.fewCounters} counters under \`hs-few-\` with ${plan.changesPerCounter} each, and the reference counter
  \`hs-ref\` with ${plan.referenceChanges} changes: ${build.writes.changes.toLocaleString('en-US')} changes in all.
- Every change went through the service's own UpdateItem (\`DynamoCounterRepository.increment\`, wired by
  \`functions/counter/wiring.ts\`), so the stream carried real counter images: in ${build.writes.waves.toLocaleString('en-US')} waves, one
  after another, each wave's changes all at once (up to ${build.writes.largestWave} in flight).
- **Synthetic times**: each change was given the \`now\` the handler would have stamped, spread over
  ${plan.spanDays} days (${build.span.start} to ${build.span.end}), so the series and time windows cover days rather than
  the minutes the build took. The big counter's changes come in bursts of ${plan.concurrency} within one second (one burst per
  wave, about every ${((plan.spanDays * 86_400 * plan.concurrency) / plan.bigChanges).toFixed(0)} s of synthetic time; its day series has ${plan.spanDays} buckets); each
  small counter's ${plan.changesPerCounter} changes come in one such burst; the reference counter's ${plan.referenceChanges} changes are evenly spaced.
  Changes in flight together may take their versions in another order than their times, as with Lambda
  instances whose clocks differ; bursts and waves keep that within one second of one minute, as in
  production, never across the minute rollups that since/until rely on.
- Then the real consumer (\`functions/stream/record-history.ts\`) applied the stream through the local
  server's \`StreamPoller\` (batches of ${plan.batchSize}, the stack's setting), and the history was checked to hold
  every version: ${build.verified.bigEntries.toLocaleString('en-US')} entries for \`hs-big\` up to version ${build.verified.bigLastVersion.toLocaleString('en-US')},
  ${build.verified.referenceEntries} for \`hs-ref\`, ${build.verified.historyItems.toLocaleString('en-US')} in the table, and \`hs-big\`'s day rollups counting
  ${build.verified.bigDaySeriesCount.toLocaleString('en-US')} changes. ${build.consumer.failedInvocations} invocations reported a failure; nothing was dead-lettered.
- Consumer throughput, informative: it applied the changes ${formatRatio(build.consumerToWriteRate)} as fast as the
  writers made them (${consumerRate.toFixed(0)} vs ${writeRate.toFixed(0)} changes/s on this machine, each phase alone:
  ${build.consumer.invocations} invocations in ${build.consumer.seconds.toFixed(1)} s, ${formatPercent(build.consumer.handlerSeconds / build.consumer.seconds)} of it inside the
  consumer, the rest the poller's reads and checkpoints; writes in ${build.writes.seconds.toFixed(1)} s).
- The engine slowed down as it filled: writing the last tenth of the changes took ${formatRatio(build.writes.lastToFirstTenthTime)} as long as
  writing the first tenth. Dynoxide's writes to a table with a stream slow down with every stream record it
  holds (the history and rollups tables have no stream and stay fast); that is the engine, not the service,
  and it is what bounds the size of a build on a small machine.

## Reads: the big data set against the reference

${met} of ${issueReads.length} reads the issue names are within ${READ_TARGET.max}x of their reference (ratio of medians).
The controls compare two requests on the big counter that return the same number of entries, so they
show what depth alone costs.

${readTable}
${unequal.length === 0 ? '' : `\n${unequal.join('\n')}\n`}
## Capacity per read

Read capacity units per call (eventually consistent reads are half a unit per 4 KB; the counter's
GetItem is consistent).

${readCapacity}

## Write capacity per change, end to end

The counter's UpdateItem, then the consumer's history PutItem and rollup UpdateItems (one per bucket
per counter per batch, for the minute, hour and day), per change.

${writeCapacity}

## Deleting a counter: the consumer's purge

The consumer deletes a deleted counter's history and rollups inside the invocation that sees the
deletion (\`functions/counter/record-history.ts\` \`applyGroup\` -> \`DynamoHistoryStore.purge\`), one
\`BatchWriteItem\` of 25 keys after another. The invocation with the big counter's deletion took
${formatRatio(report.purge.timeRatio)} as long as the one with the reference counter's.

${purgeTable}

## Raw wall times (this machine, this run only)

${rawTable}
`;
}
