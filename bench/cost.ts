import { ACCESS_LOG_FIELDS } from '../lib/constructs/counter-api.ts';
import type { CapacityResult, CapacityRow, StreamRow } from './capacity-report.ts';
import {
  CLOUDWATCH_LOGS_INGESTION,
  DYNAMODB_READ_REQUEST_UNITS,
  DYNAMODB_STORAGE,
  DYNAMODB_WRITE_REQUEST_UNITS,
  HTTP_API_REQUESTS,
  LAMBDA_ARM_GB_SECOND,
  LAMBDA_MEMORY_MB,
  LAMBDA_REQUESTS,
  XRAY_DEFAULT_SAMPLING,
  XRAY_TRACES_RECORDED,
} from './prices.ts';
import { formatDollars, markdownTable, type Target, verdict } from './stats.ts';

export const PRICE_TARGET: Target = { max: 3.5, label: 'a million plain increments for at most $3.50' };

/** Issue 12: a keyed increment (Idempotency-Key) costs at most 1.3x a plain one. */
export const KEYED_PRICE_TARGET: Target = { max: 1.3, label: 'a keyed increment at most 1.3x a plain one' };

/** A generous duration for the sensitivity line: even this adds little. */
export const PESSIMISTIC_DURATION_MS = 50;

/** Dollars per million operations, by where the money goes. */
export interface CostRow {
  operation: string;
  apiGateway: number;
  lambdaRequests: number;
  lambdaDuration: number;
  /** Billed duration per invocation, from the measured warm wall time (see the assumption in docs/cost.md). */
  billedMs: number;
  dynamodb: number;
  /** The consumer's DynamoDB work for the change (history entry, rollups, purge, ...), one record per invocation. */
  streamDynamodb: number;
  /** The consumer's Lambda requests and duration, one record per invocation (quiet traffic). */
  consumerLambda: number;
  /**
   * CloudWatch Logs ingestion: what the function and the consumer wrote (logs, EMF metrics), measured,
   * and API Gateway's access log line (ACCESS_LOG_BYTES). Lambda's own start and report lines are
   * dropped by the functions' system log level (WARN).
   */
  logs: number;
  /** Everything, with the consumer at its most expensive: the figure held against the target. */
  total: number;
}

export interface CostResult {
  rows: CostRow[];
  target: Target;
  plainIncrementPerMillion: number;
  /** A keyed increment (Idempotency-Key), priced as the plain one: the consumer at its most expensive. */
  keyedIncrementPerMillion: number;
  /** A plain increment when traffic fills the consumer's batches (its cheapest case). */
  plainIncrementBusy: number;
  /** The plain increment's total if every invocation were billed PESSIMISTIC_DURATION_MS instead. */
  plainIncrementPessimistic: number;
  /**
   * A plain increment when `changes` changes of the same counter (in the same minute) reach the consumer
   * together: what the consumer spends per batch (three rollup writes, one invocation) is shared by
   * them, what it spends per change (the history entry) is not. Between the two measured ends, one
   * change per invocation and a full batch of one counter, that is a + b / changes.
   */
  plainIncrementByBatch: { changes: number; dollars: number }[];
  storage: {
    counterBytes: number;
    historyEntryBytes: number;
    perMillionCountersMonth: number;
    perMillionHistoryEntriesMonth: number;
  };
}

const PER_MILLION = 1_000_000;

/**
 * What API Gateway substitutes for each `$context` variable of the access log in a typical signed
 * increment: the values are made up but of the real lengths (an HTTP API request id, an assumed-role
 * principal, an SDK-style user agent); an absent value is logged as `-`.
 */
const TYPICAL_ACCESS_LOG_VALUES: Record<string, string> = {
  '$context.requestId': 'Qx1Zb3mVIAMEbXw=',
  '$context.requestTime': '30/Nov/2026:04:49:11 +0000',
  '$context.identity.sourceIp': '203.0.113.10',
  '$context.identity.userArn': 'arn:aws:sts::111111111111:assumed-role/CounterWriter/i-0abc123def4567890',
  '$context.identity.userAgent': 'aws-sdk-js/3.1169.0 ua/2.1 os/linux#6.1 lang/js md/nodejs#22.23.3',
  '$context.routeKey': 'POST /counters/{name}',
  '$context.path': '/counters/page-views',
  '$context.status': '200',
  '$context.protocol': 'HTTP/1.1',
  '$context.responseLength': '152',
  '$context.responseLatency': '21',
  '$context.integrationLatency': '18',
  '$context.integrationStatus': '200',
};

/** API Gateway's access log line for a typical request, as lib/constructs/counter-api.ts formats it. */
export function typicalAccessLogLine(): string {
  const line = Object.fromEntries(
    Object.entries(ACCESS_LOG_FIELDS).map(([field, variable]) => [
      field,
      TYPICAL_ACCESS_LOG_VALUES[variable] ?? '-',
    ]),
  );
  return JSON.stringify(line);
}

/** The bytes the access log ingests per API request (the line and its newline). */
export const ACCESS_LOG_BYTES = Buffer.byteLength(typicalAccessLogLine()) + 1;

/**
 * The price of a change when `changes` of one counter share a consumer batch, from the two measured
 * ends: `alone` (one per invocation) and `full` (a full batch of `fullBatch`). The consumer's per-batch
 * part is shared, its per-change part is not, so the price is a + b / changes through both ends.
 */
export function priceByBatch(
  alone: number,
  full: number,
  fullBatch: number,
  sizes: readonly number[],
): { changes: number; dollars: number }[] {
  return sizes.map((changes) => ({
    changes,
    dollars: full + ((alone - full) * (1 / changes - 1 / fullBatch)) / (1 - 1 / fullBatch),
  }));
}

/** Changes of one counter per consumer batch, for the price line of docs/cost.md. */
const BATCH_SIZES = [1, 2, 3, 4, 5, 10, 25, 100];
const GB = 1024 ** 3;

/** Lambda duration cost per million invocations of `billedMs` each at the house memory size. */
export function lambdaDurationPerMillion(billedMs: number): number {
  return PER_MILLION * (LAMBDA_MEMORY_MB / 1024) * (billedMs / 1000) * LAMBDA_ARM_GB_SECOND.value;
}

/** Lambda bills whole milliseconds, at least one. */
export function billedMilliseconds(wallMs: number): number {
  return Math.max(1, Math.ceil(wallMs));
}

/** CloudWatch Logs ingestion per million operations that each write `bytes`. */
export function logsPerMillion(bytes: number): number {
  return ((bytes * PER_MILLION) / GB) * CLOUDWATCH_LOGS_INGESTION.value;
}

/**
 * The share of a function's invocations X-Ray records at `perSecond` invocations a second under the
 * default sampling rule: all of the first each second, 5% of the rest.
 */
export function xrayTracedShare(perSecond: number): number {
  const { reservoirPerSecond, rate } = XRAY_DEFAULT_SAMPLING;
  if (perSecond <= reservoirPerSecond) return 1;
  return (reservoirPerSecond + rate * (perSecond - reservoirPerSecond)) / perSecond;
}

/** How often Lambda hands the history consumer a batch from one stream shard, at most (4 polls a second). */
export const CONSUMER_POLLS_PER_SECOND = 4;

/**
 * X-Ray's price per million plain increments arriving at `perSecond` a second, with every function
 * traced (the stack's default): the increment's invocation, and the consumer's share of one
 * invocation per batch (a batch per poll at most; each change alone below that). Each function is
 * assumed to get the sampling rule's reservoir to itself; no free tier is subtracted.
 */
export function xrayPerMillionIncrements(perSecond: number): number {
  const consumerPerSecond = Math.min(perSecond, CONSUMER_POLLS_PER_SECOND);
  const tracesPerIncrement =
    xrayTracedShare(perSecond) + (consumerPerSecond / perSecond) * xrayTracedShare(consumerPerSecond);
  return tracesPerIncrement * XRAY_TRACES_RECORDED.value;
}

/** Increments a second at which docs/cost.md shows X-Ray's price. */
export const XRAY_RATES = [0.1, 1, 10, 100, 1000];

export function dynamodbPerMillion(readUnits: number, writeUnits: number): number {
  return readUnits * DYNAMODB_READ_REQUEST_UNITS.value + writeUnits * DYNAMODB_WRITE_REQUEST_UNITS.value;
}

export function computeCosts(capacity: CapacityResult): CostResult {
  const rows = capacity.rows.map(costOf);
  const plain = rows.find((row) => row.operation === 'plain increment');
  const busy = capacity.fullBatch;
  const consumerShare = (stream: StreamRow, durationMs: number) =>
    (LAMBDA_REQUESTS.value + lambdaDurationPerMillion(durationMs)) / stream.batchSize;
  const front = (row: CostRow) => row.apiGateway + row.lambdaRequests + row.lambdaDuration + row.dynamodb;
  const plainMeasured = capacity.rows.find((row) => row.operation === 'plain increment');
  const plainIncrementBusy =
    plain === undefined || plainMeasured === undefined
      ? Number.NaN
      : front(plain) +
        dynamodbPerMillion(busy.readUnits, busy.writeUnits) +
        consumerShare(busy, billedMilliseconds(busy.wallMs.median)) +
        logsPerMillion(ACCESS_LOG_BYTES + plainMeasured.logBytes + busy.logBytes);
  const plainIncrementPessimistic =
    plain === undefined
      ? Number.NaN
      : plain.total -
        plain.lambdaDuration -
        plain.consumerLambda +
        lambdaDurationPerMillion(PESSIMISTIC_DURATION_MS) +
        (LAMBDA_REQUESTS.value + lambdaDurationPerMillion(PESSIMISTIC_DURATION_MS));
  const fullBatch = busy.batchSize;
  const plainIncrementByBatch = priceByBatch(
    plain?.total ?? Number.NaN,
    plainIncrementBusy,
    fullBatch,
    BATCH_SIZES,
  );
  const counterBytes = capacity.storage.counter.storedBytes;
  const historyEntryBytes = capacity.storage.historyEntry.storedBytes;
  return {
    rows,
    target: PRICE_TARGET,
    plainIncrementPerMillion: plain?.total ?? Number.NaN,
    keyedIncrementPerMillion:
      rows.find((row) => row.operation === 'keyed increment (Idempotency-Key)')?.total ?? Number.NaN,
    plainIncrementBusy,
    plainIncrementPessimistic,
    plainIncrementByBatch,
    storage: {
      counterBytes,
      historyEntryBytes,
      perMillionCountersMonth: ((counterBytes * PER_MILLION) / GB) * DYNAMODB_STORAGE.value,
      perMillionHistoryEntriesMonth: ((historyEntryBytes * PER_MILLION) / GB) * DYNAMODB_STORAGE.value,
    },
  };
}

function costOf(row: CapacityRow): CostRow {
  const billedMs = billedMilliseconds(row.wallMs.median);
  const apiGateway = HTTP_API_REQUESTS.value;
  const lambdaRequests = LAMBDA_REQUESTS.value;
  const lambdaDuration = lambdaDurationPerMillion(billedMs);
  const dynamodb = dynamodbPerMillion(row.readUnits, row.writeUnits);
  const stream = row.stream;
  const streamDynamodb = stream === undefined ? 0 : dynamodbPerMillion(stream.readUnits, stream.writeUnits);
  // One consumer invocation per change: the stream row was measured with one record per invocation.
  const consumerLambda =
    stream === undefined
      ? 0
      : (LAMBDA_REQUESTS.value + lambdaDurationPerMillion(billedMilliseconds(stream.wallMs.median))) /
        stream.batchSize;
  const logs = logsPerMillion(ACCESS_LOG_BYTES + row.logBytes + (stream?.logBytes ?? 0));
  return {
    operation: row.operation,
    apiGateway,
    lambdaRequests,
    lambdaDuration,
    billedMs,
    dynamodb,
    streamDynamodb,
    consumerLambda,
    logs,
    total: apiGateway + lambdaRequests + lambdaDuration + dynamodb + streamDynamodb + consumerLambda + logs,
  };
}

export function costMarkdown(result: CostResult): string {
  const table = markdownTable(
    [
      'operation (per million)',
      'API Gateway',
      'Lambda requests',
      'Lambda duration (billed ms)',
      'DynamoDB',
      'stream consumer: DynamoDB',
      'stream consumer: Lambda',
      `logs (incl. the ${ACCESS_LOG_BYTES}-byte access log line)`,
      'total',
    ],
    result.rows.map((row) => [
      row.operation,
      formatDollars(row.apiGateway),
      formatDollars(row.lambdaRequests),
      `${formatDollars(row.lambdaDuration)} (${row.billedMs} ms)`,
      formatDollars(row.dynamodb),
      formatDollars(row.streamDynamodb),
      formatDollars(row.consumerLambda),
      formatDollars(row.logs),
      formatDollars(row.total),
    ]),
  );
  const s = result.storage;
  return [
    table,
    '',
    `A million plain increments: ${formatDollars(result.plainIncrementPerMillion)} with one change per consumer ` +
      `invocation (quiet traffic, the upper bound); target <= ${formatDollars(result.target.max)}: ` +
      `${verdict(result.plainIncrementPerMillion, result.target)}. With full consumer batches (busy traffic): ` +
      `${formatDollars(result.plainIncrementBusy)}. Were every invocation billed ${PESSIMISTIC_DURATION_MS} ms: ` +
      `${formatDollars(result.plainIncrementPessimistic)}.`,
    `By changes of one counter per consumer batch: ${result.plainIncrementByBatch
      .map((point) => `${point.changes}: ${formatDollars(point.dollars)}`)
      .join(', ')}.`,
    `X-Ray, off by default (with \`tracing: Tracing.ACTIVE\`, every function traced) per million plain increments, by increments a second: ${XRAY_RATES.map(
      (rate) => `${rate}/s: ${formatDollars(xrayPerMillionIncrements(rate))}`,
    ).join(', ')}; not in the totals above.`,
    `Storage: ${s.counterBytes} B per counter (item, index entries, overheads) = ${formatDollars(s.perMillionCountersMonth)} ` +
      `per million counters a month; ${s.historyEntryBytes} B per history entry (the same) = ` +
      `${formatDollars(s.perMillionHistoryEntriesMonth)} per million entries a month.`,
  ].join('\n');
}
