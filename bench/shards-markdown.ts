/**
 * docs/benchmarks/shards.md, drawn from the runs in shards.json: the summary across runs, what is
 * measured, a section per run (its table, its notes, its history consumer), where and how.
 */
import {
  AWS_ITEM_READ_UNITS_PER_SECOND,
  AWS_ITEM_WRITE_UNITS_PER_SECOND,
  CONSUMER_DRAIN_MAX_MS,
  CONSUMER_QUIET_MS,
  chartLabel,
  readBackFell,
  type ShardRow,
  type ShardsDocument,
  type ShardsReport,
} from './shards-document.ts';
import { formatMs, formatRatio, markdownTable } from './stats.ts';

const percent = (share: number) => (Number.isFinite(share) ? `${(share * 100).toFixed(0)}%` : 'n/a');
const load = (values: readonly number[]) => values.map((value) => value.toFixed(2)).join(' / ');
const perSecond = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : 'n/a');

function tableCounts(counts: Record<string, number>): string {
  const entries = Object.entries(counts).filter(([, count]) => count > 0);
  return entries.length === 0 ? 'none' : entries.map(([table, count]) => `${table}: ${count}`).join(', ');
}

/** The run's settings in words, e.g. "write limit 5/s, read limit 15/s, Prefer: return=minimal". */
function runLabel(report: ShardsReport): string {
  const { limit, minimal } = report.settings;
  return [
    `write limit ${limit.writesPerSecond}/s`,
    limit.readsPerSecond === undefined ? 'reads unlimited' : `read limit ${limit.readsPerSecond}/s`,
    minimal ? '`Prefer: return=minimal`' : 'no Prefer',
  ].join(', ');
}

function codeLine(report: ShardsReport): string {
  return (
    `commit \`${report.code.commit.slice(0, 12)}\`` +
    (report.code.headAtEnd === undefined
      ? ''
      : ` (HEAD moved to \`${report.code.headAtEnd.slice(0, 12)}\` during the run; the code measured is the starting commit's)`) +
    (report.code.served === 'HEAD snapshot'
      ? ', served from a snapshot of that commit (`git archive`), whatever else the working tree held'
      : report.code.uncommittedChanges.length === 0
        ? ', served from the working tree, which had no uncommitted changes in functions/, lib/ or bin/'
        : `, served from the working tree with uncommitted changes: ${report.code.uncommittedChanges.map((line) => `\`${line}\``).join(', ')}`)
  );
}

export function shardsMarkdown(document: ShardsDocument): string {
  const { runs } = document;
  const first = runs[0];
  if (first === undefined) return '# Sharded counters: increment throughput against N\n\nNo runs yet.\n';
  return [
    ...introduction(runs),
    ...summary(runs, first.settings.limit.writesPerSecond),
    ...whatIsMeasured(runs, first.settings),
    ...runs.flatMap((run, index) => runSection(run, index + 1)),
    ...whereAndHow(first),
  ].join('\n');
}

/** The runs, the commands that make them again, the chart. */
function introduction(runs: readonly ShardsReport[]): string[] {
  return [
    '# Sharded counters: increment throughput against N',
    '',
    `${runs.length === 1 ? 'One run' : `${runs.length} runs`} of \`bench/shards.ts\` (per-item limits by \`bench/item-rate-proxy.ts\`), each on the code of one commit:`,
    '',
    ...runs.map(
      (run, index) =>
        `${index + 1}. **${runLabel(run)}**: \`${run.command}\`, ${run.generatedAt.slice(0, 16).replace('T', ' ')} UTC, commit \`${run.code.commit.slice(0, 12)}\`.`,
    ),
    '',
    'Regenerate one with its command: a full run (default settings, with or without `--read-limit R` and',
    '`--minimal`) replaces the run of the same settings in `docs/benchmarks/shards.json` and draws this file',
    'and `docs/benchmarks/shards.svg` again from every run there; `-- --quick` is a smoke run written to a',
    'temporary directory.',
    '',
    '![Acknowledged increments per second against the number of shards, for each run](shards.svg)',
    '',
  ];
}

/** Increments per second by N, a column per run, and each run's top row in words. */
function summary(runs: readonly ShardsReport[], limit: number): string[] {
  const shardCounts = [...new Set(runs.flatMap((run) => run.rows.map((row) => row.shards)))].sort(
    (a, b) => a - b,
  );
  const summary = markdownTable(
    [
      'shards N',
      'ceiling N x limit',
      ...runs.map((run, index) => `run ${index + 1} (${chartLabel(run)}): increments/s (vs N = 1)`),
    ],
    shardCounts.map((shards) => [
      String(shards),
      `${shards * limit}/s`,
      ...runs.map((run) => {
        const row = run.rows.find((candidate) => candidate.shards === shards);
        return row === undefined
          ? 'n/a'
          : `${perSecond(row.acknowledgedPerSecond)} (${formatRatio(row.againstOneShard)})` +
              (readBackFell(run) ? `; 200s ${perSecond(row.okPerSecond)}/s` : '');
      }),
    ]),
  );
  return [
    '## Summary',
    '',
    summary,
    '',
    ...runs.map((run, index) => {
      const top = run.rows.at(-1);
      return top === undefined
        ? ''
        : `- Run ${index + 1} (${runLabel(run)}): at N = ${top.shards}, ${perSecond(top.acknowledgedPerSecond)} increments/s, ` +
            `${formatRatio(top.againstOneShard)} its N = 1 and ${percent(top.ofCeiling)} of ${top.shards} x ${limit}/s` +
            (readBackFell(run)
              ? `; of them ${perSecond(top.okPerSecond)}/s answered 200 with the counter, the rest 204 (applied, not read).`
              : '.');
    }),
    '',
    'Increments per second are the **acknowledged** ones, 200 and 204 answers alike (each is an applied',
    'change; the final value checks it), and "vs N = 1" is against the N = 1 row of the same run, measured',
    "minutes apart on the same machine. N = 1 is a plain counter, whose increment's answer comes with its",
    'write (`ReturnValues`), so it reads nothing whatever the settings.',
    '',
  ];
}

/** The limits the proxy emulates, the load, the exactness check, what a sharded increment reads. */
function whatIsMeasured(runs: readonly ShardsReport[], settings: ShardsReport['settings']): string[] {
  const limit = settings.limit.writesPerSecond;
  return [
    '## What is measured',
    '',
    `DynamoDB takes about ${AWS_ITEM_WRITE_UNITS_PER_SECOND.toLocaleString('en-US')} write units and ${AWS_ITEM_READ_UNITS_PER_SECOND.toLocaleString('en-US')} read units per second on one item (one`,
    'partition key); a counter that is one item can therefore take about that many increments per second,',
    "whatever the table's capacity. A sharded counter spreads its increments over N items, so its ceiling is",
    'N times that. The local engine has no per-item limit at all, so this benchmark puts one in front of it,',
    `scaled down: **${limit} write units per second per item, burst ${settings.limit.burst}**, and in the runs that say so`,
    '**a read limit per item** (GetItem 1 unit, 0.5 if eventually consistent; each item of TransactGetItems 2;',
    'reads get as many seconds of burst as writes). This is `bench/item-rate-proxy.ts`, a token bucket per',
    'table and partition key; over it, the proxy answers `ProvisionedThroughputExceededException` (a',
    "transaction: `TransactionCanceledException` with `ThrottlingError`) as DynamoDB does, the handlers' SDK",
    'retries it as throttling, and the API answers 429 with Retry-After. Scaled down, because this machine',
    `could not drive ${AWS_ITEM_WRITE_UNITS_PER_SECOND.toLocaleString('en-US')} increments per second per shard: with the limits lifted it managed about`,
    `${perSecond(Math.min(...runs.map((run) => run.unlimited.okPerSecond)))} to ${perSecond(Math.max(...runs.map((run) => run.unlimited.okPerSecond)))} increments/s in all (each run's own figure is in its section). On AWS, read the`,
    `ceiling column as N x ${AWS_ITEM_WRITE_UNITS_PER_SECOND.toLocaleString('en-US')}/s, and a read limit of R as ${AWS_ITEM_READ_UNITS_PER_SECOND.toLocaleString('en-US')}/s: the runs with reads limited keep`,
    "DynamoDB's ratio of three read units per write unit.",
    '',
    `Each item starts a phase with its burst in hand, so a phase may exceed its ceiling by N x ${settings.limit.burst} / ${settings.secondsPerPhase} s`,
    `(${((settings.limit.burst / settings.secondsPerPhase / limit) * 100).toFixed(0)}% of it).`,
    '',
    `For each N, a fresh counter with N shards, then ${settings.connections} keep-alive connections sending signed`,
    `\`POST /counters/{name}\` (+1) for ${settings.secondsPerPhase} s, each connection sending its next request as soon as the last is`,
    'answered, 429 or not: a saturating load, so the acknowledged rate is what the limits let through and',
    'the 429 share is the refused excess (it depends on the load, not only on N). Afterwards',
    '`GET /counters/{name}` must equal the number of acknowledged increments (200 and 204) exactly: an',
    'increment answered 429 whose change was applied anyway would show as a value above it. The run stops',
    'if the two differ. They were equal for every N of every run below.',
    '',
    '**What a sharded increment reads.** Without `Prefer`, an increment of a sharded counter answers 200',
    'with the counter read after the write: one `TransactGetItems` of all N items (2 read units on each),',
    'tried twice, then one consistent `GetItem` per item (1 unit each). Every increment thus reads every',
    'item: under a read limit of R units per item per second, the counter can answer at most about R / 2',
    "to R such reads per second, whatever N (fewer as N grows: the fallback's N GetItems take their units",
    "one by one, so a read refused on one item still spends the others'). When that read fails after the",
    'write, the increment answers 204 (applied, not read) since commit `a7ae167` (before, 429 although the',
    'write was applied); it answers only once the read has failed, SDK retries included. With',
    '`Prefer: return=minimal` (`--minimal`) the increment answers 204 and reads nothing.',
    '',
  ];
}

function whereAndHow(first: ShardsReport): string[] {
  return [
    '## Where and how',
    '',
    `- Machine: ${first.machine.cpus} cores (${first.machine.cpuModel}), ${first.machine.platform}, Node ${first.machine.node};`,
    "  **shared** with other engineers' runs and benchmarks (each run's load average is in its section; on",
    `  ${first.machine.cpus} cores, above ${first.machine.cpus} means others were busy too).`,
    `- Engine: ${first.machine.engine}, in a temporary file, started by \`startEngine({})\`; the local server`,
    '  (`bin/local.ts`, its own process, started as the integration tests start it) reaches it through the proxy',
    "  (`DYNAMODB_ENDPOINT`). Client, proxy, server, stream consumer and engine share the machine's cores.",
    "- The absolute rates say little about AWS: they are this machine's and these scaled-down limits'. What",
    '  carries over are the **ratios**: against N = 1 measured in the same run, and against N x limit.',
    '',
  ];
}

/** One run's section: how it was made, its table, its notes and its history consumer. */
function runSection(report: ShardsReport, number: number): string[] {
  return [
    ...runHeader(report, number),
    '',
    runTable(report),
    '',
    topLine(report),
    '',
    ...answerNotes(report),
    '',
    ...consumerSection(report, number),
  ];
}

function runHeader(report: ShardsReport, number: number): string[] {
  const { settings, unlimited } = report;
  const readsLimited = settings.limit.readsPerSecond !== undefined;
  return [
    `## Run ${number}: ${runLabel(report)}`,
    '',
    `- Command: \`${report.command}\``,
    `- Run ${report.generatedAt} to ${report.finishedAt}, ${codeLine(report)}.`,
    `- Load: ${settings.connections} connections, ${settings.secondsPerPhase} s per N, ${settings.minimal ? '`Prefer: return=minimal` on every increment' : 'no `Prefer` header'};` +
      ` per item ${settings.limit.writesPerSecond} write units/s (burst ${settings.limit.burst})` +
      (readsLimited ? ` and ${settings.limit.readsPerSecond} read units/s.` : ', reads unlimited.') +
      ` Machine load average (1 / 5 / 15 min) at start ${load(report.machine.loadAverageAtStart)}, at end ${load(report.machine.loadAverageAtEnd)}.`,
    `- With no limit (a plain counter, the proxy letting everything through): ${perSecond(unlimited.before.acknowledged / unlimited.before.seconds)} increments/s before the shard phases, ` +
      `${perSecond(unlimited.after.acknowledged / unlimited.after.seconds)} after; p50 ${formatMs(unlimited.before.acknowledgedLatencyMs.median)} / ${formatMs(unlimited.after.acknowledgedLatencyMs.median)}. ` +
      "Where N x limit nears this, the figure is this machine's, not the limit's.",
  ];
}

function runTable(report: ShardsReport): string {
  const readsLimited = report.settings.limit.readsPerSecond !== undefined;
  return markdownTable(
    [
      'shards N',
      'ceiling N x limit',
      'increments/s (200 + 204)',
      'of ceiling',
      'vs N = 1',
      '200 / 204 / 429 answers',
      '200s/s',
      '429 share',
      'p50',
      'p99',
      'p50 (429)',
      'final value = 200s + 204s',
      'shard items written (min-max units)',
      ...(readsLimited ? ["read units of the counter's items (refused reads)"] : []),
    ],
    report.rows.map((row) => [
      String(row.shards),
      `${row.ceilingPerSecond}/s`,
      perSecond(row.acknowledgedPerSecond),
      percent(row.ofCeiling),
      formatRatio(row.againstOneShard),
      `${row.load.ok} / ${row.load.noContent} / ${row.load.throttled}`,
      perSecond(row.okPerSecond),
      percent(row.throttledShare),
      formatMs(row.load.acknowledgedLatencyMs.median),
      formatMs(row.load.acknowledgedLatencyMs.p99),
      formatMs(row.load.throttledLatencyMs.median),
      `${row.finalValue} = ${row.load.acknowledged}`,
      `${row.shardItems.written} (${row.shardItems.minUnits}-${row.shardItems.maxUnits})`,
      ...(readsLimited ? [`${row.readsForwarded} (${sum(Object.values(row.throttledReads))})`] : []),
    ]),
  );
}

/** The largest N against one shard and its ceiling, and how many of its answers came with the counter. */
function topLine(report: ShardsReport): string {
  const { settings, rows } = report;
  const top = rows.at(-1);
  if (top === undefined) return '';
  const limit = settings.limit.writesPerSecond;
  const sharded = rows.filter((row) => row.shards > 1);
  const okRates = sharded.map((row) => row.okPerSecond);
  const okRange =
    sharded.length === 0 ? '' : `${perSecond(Math.min(...okRates))} to ${perSecond(Math.max(...okRates))}`;
  return (
    `With ${top.shards} shards the counter acknowledged ${formatRatio(top.againstOneShard)} the increments per second of one shard, ` +
    `${percent(top.ofCeiling)} of its ceiling of ${top.shards} x ${limit}/s.` +
    (settings.minimal || sharded.every((row) => row.load.noContent === 0)
      ? ''
      : ` Answered with the counter (200): ${okRange} per second for N > 1; the other acknowledged increments answered 204, applied but not read.`)
  );
}

/** What the answers were beyond the table: 204s, 429s, refusals, other answers, the server's errors. */
function answerNotes(report: ShardsReport): string[] {
  const { rows } = report;
  const noContent = sum(rows.map((row) => row.load.noContent));
  const preferred = sum(rows.map((row) => row.load.preferenceApplied));
  const types = new Map<string, number>();
  for (const row of rows)
    for (const [type, count] of Object.entries(row.load.throttledTypes))
      types.set(type, (types.get(type) ?? 0) + count);
  const byRow = (counts: (row: ShardRow) => Record<string, number>, what: string) =>
    rows
      .filter((row) => Object.keys(counts(row)).length > 0)
      .map((row) => `- N = ${row.shards}: ${what}: ${tableCounts(counts(row))}.`);
  return [
    "- Latencies (p50, p99) are of the acknowledged answers, and include the SDK's own throttling retries",
    '  inside the handler (up to 3 attempts, within its retry quota); a 429 comes once those are spent,',
    '  so the 429 share varies from run to run far more than the acknowledged rate does.',
    noContent === 0
      ? '- 204 answers: none.'
      : `- 204 answers: ${noContent}, of which ${preferred} carried \`Preference-Applied: return=minimal\`` +
        (noContent - preferred === 0
          ? '.'
          : ` and ${noContent - preferred} did not (a sharded increment whose read after the write failed).`),
    `- 429 problem types: ${[...types].map(([type, count]) => `\`${type}\` ${count}`).join(', ') || 'none'}; ` +
      `429s without Retry-After: ${sum(rows.map((row) => row.load.throttledWithoutRetryAfter))}.`,
    ...byRow((row) => row.throttledReads, 'read requests refused by the read limit'),
    ...byRow((row) => row.engineRefusals, 'forwarded writes the engine refused'),
    otherAnswers(rows),
    serverErrorsLine(report),
    `- Dead-letter entries (history batches given up on) at the end of the run: ${report.deadLetters}.`,
  ];
}

function otherAnswers(rows: readonly ShardRow[]): string {
  const other = rows.filter((row) => Object.keys(row.load.other).length > 0);
  if (other.length === 0) return '- No answer other than 200, 204 and 429.';
  return (
    `- Other answers: ${other.map((row) => `N = ${row.shards}: ${JSON.stringify(row.load.other)}`).join('; ')}; ` +
    `the first: ${other
      .flatMap((row) => row.load.otherBodies.slice(0, 1))
      .map((body) => `\`${body}\``)
      .join(', ')}.`
  );
}

function serverErrorsLine(report: ShardsReport): string {
  const { lines, kinds } = report.serverErrors;
  return (
    `- The local server logged ${lines} error lines (handlers and stream consumer, level ERROR)` +
    (lines === 0
      ? '.'
      : kinds === undefined
        ? '; the first few are in shards.json.'
        : `: ${Object.entries(kinds)
            .map(([kind, count]) => `${count} x \`${kind}\``)
            .join(', ')}; the first few are in shards.json.`)
  );
}

function consumerSection(report: ShardsReport, number: number): string[] {
  const table = markdownTable(
    [
      'shards N',
      'history entries / changes, after its phase',
      'at the end',
      'consumer write requests forwarded',
      'consumer write requests throttled',
      'consumer idle',
    ],
    report.rows.map((row) => [
      String(row.shards),
      // The PUT that created the counter is its first change.
      `${row.consumer.historyEntries} / ${row.load.acknowledged + 1}`,
      `${row.consumer.historyEntriesAtEnd} / ${row.load.acknowledged + 1}`,
      tableCounts(row.consumer.forwardedWrites),
      tableCounts(row.consumer.throttledWrites),
      row.consumer.drained
        ? `${row.consumer.drainSeconds.toFixed(1)} s after the load`
        : `still writing ${row.consumer.drainSeconds.toFixed(0)} s after`,
    ]),
  );
  return [
    `### Run ${number}: the history consumer under the same limits`,
    '',
    "The limits apply to every table, as DynamoDB's do, so the stream consumer's writes to the history and",
    "rollups tables (all of one counter's entries share a partition key) meet them too. Its throttled writes",
    'are retried by the SDK and by the poller; they delay history, they do not touch the counter. Counted',
    `from the start of each phase until the consumer tried no write for ${CONSUMER_QUIET_MS / 1000} s (or ${CONSUMER_DRAIN_MAX_MS / 1000} s passed, when the`,
    'next phase began with its backlog still queued). "At the end": after the last phase and the unlimited',
    'phase, with the limits lifted until the consumer had written nothing for 3 s; each history should then',
    'hold exactly one entry per change (the PUT that created the counter and every acknowledged increment).',
    '',
    table,
    '',
  ];
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
