/** What the capacity section (bench/capacity.ts) finds, per operation and per change on the stream. */
import type { RecordedRequest } from './capacity-proxy.ts';
import { WRITE_OPERATIONS } from './capacity-proxy.ts';
import { markdownTable, type Summary } from './stats.ts';

/** What one kind of request costs in DynamoDB, per request, measured end to end. */
export interface CapacityRow {
  operation: string;
  function: string;
  repeats: number;
  /** DynamoDB requests per call, by operation and table (the table's role: counters, history, ...). */
  requests: { request: string; perCall: number }[];
  readUnits: number;
  writeUnits: number;
  /** Writes (PutItem, UpdateItem, ...) naming the counters table, per call. */
  counterWriteRequests: number;
  /** Wall time per invocation against the local engine through the measuring proxy. */
  wallMs: Summary;
  /** Bytes the function wrote to stdout (its logs and EMF metrics) per call: CloudWatch Logs ingests them. */
  logBytes: number;
  /** The stream consumer's work for the changes this operation made, per change, if it changes anything. */
  stream?: StreamRow;
}

/** The consumer's cost for a set of changes, per change. */
export interface StreamRow {
  label: string;
  changes: number;
  /** Records per consumer invocation. */
  batchSize: number;
  requests: { request: string; perCall: number }[];
  readUnits: number;
  writeUnits: number;
  /** Wall time per consumer invocation. */
  wallMs: Summary;
  /** Bytes the consumer wrote to stdout, per change. */
  logBytes: number;
}

export interface CapacityResult {
  rows: CapacityRow[];
  /** The consumer with full batches: its cost per change then. */
  fullBatch: StreamRow;
  /** Per plain increment: write requests to the counters table (the target is exactly one). */
  plainIncrementCounterWrites: number;
  /** A counter's and a history entry's size, and what each occupies with index entries and overheads. */
  storage: {
    counter: { itemBytes: number; storedBytes: number };
    historyEntry: { itemBytes: number; storedBytes: number };
  };
  /** Table role -> name, for reading the rows. */
  tables: Record<string, string>;
}

/** Requests, read units and write units per call, from what the proxy recorded. */
export function tally(
  seen: readonly RecordedRequest[],
  calls: number,
  roleOf: ReadonlyMap<string, string>,
): { requests: { request: string; perCall: number }[]; readUnits: number; writeUnits: number } {
  const counts = new Map<string, number>();
  let readUnits = 0;
  let writeUnits = 0;
  for (const request of seen) {
    const key = `${request.operation} ${request.tables.map((t) => roleOf.get(t) ?? t).join('+')}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    const units = request.consumed.reduce((sum, entry) => sum + entry.units, 0);
    if (WRITE_OPERATIONS.has(request.operation)) writeUnits += units;
    else readUnits += units;
  }
  return {
    requests: [...counts].map(([request, count]) => ({ request, perCall: count / calls })),
    readUnits: readUnits / calls,
    writeUnits: writeUnits / calls,
  };
}

function formatRequests(requests: readonly { request: string; perCall: number }[]): string {
  return requests.map((r) => `${Number(r.perCall.toFixed(2))} x ${r.request}`).join(', ');
}

export function capacityMarkdown(result: CapacityResult): string {
  const main = markdownTable(
    [
      'operation',
      'DynamoDB requests per call',
      'read units',
      'write units',
      'counters-table writes',
      'log bytes',
    ],
    result.rows.map((row) => [
      row.operation,
      formatRequests(row.requests),
      String(Number(row.readUnits.toFixed(3))),
      String(Number(row.writeUnits.toFixed(3))),
      String(Number(row.counterWriteRequests.toFixed(3))),
      String(Math.round(row.logBytes)),
    ]),
  );
  const streamRows = [
    ...result.rows.flatMap((row) => (row.stream === undefined ? [] : [row.stream])),
    result.fullBatch,
  ];
  const stream = markdownTable(
    [
      'stream consumer',
      'records per invocation',
      'DynamoDB requests per change',
      'read units',
      'write units',
      'log bytes',
    ],
    streamRows.map((row) => [
      row.label.replace(/^stream: /, ''),
      String(row.batchSize),
      formatRequests(row.requests),
      String(Number(row.readUnits.toFixed(3))),
      String(Number(row.writeUnits.toFixed(3))),
      String(Math.round(row.logBytes)),
    ]),
  );
  return `${main}\n\nPer change, on the stream (Lambda's reads of the stream are free):\n\n${stream}`;
}
