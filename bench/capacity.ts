import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  DescribeTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type {
  APIGatewayProxyEventV2WithIAMAuthorizer,
  DynamoDBBatchResponse,
  DynamoDBStreamEvent,
} from 'aws-lambda';
import { toLambdaRecord } from '../lib/local/stream-poller.ts';
import { FUNCTIONS, HISTORY_CONSUMER } from '../lib/routes.ts';
import type { BuiltBundle } from './bundling.ts';
import { CapacityProxy, type RecordedRequest, WRITE_OPERATIONS } from './capacity-proxy.ts';
import { context, type HttpCall, httpEvent, importBundle, type LambdaHandler, statusOf } from './invoke.ts';
import { itemSize, storedBytes, type TableLayout } from './item-size.ts';
import { withEnvironment } from './local-service.ts';
import { stdoutCapture } from './output-capture.ts';
import { markdownTable, type Summary, summarize } from './stats.ts';
import { StreamReader } from './stream-reader.ts';

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

type HttpHandler = LambdaHandler<APIGatewayProxyEventV2WithIAMAuthorizer>;

const LIST_COUNTERS = 60;
const LIST_LIMIT = 50;
const HISTORY_ENTRIES = 120;
const DELETED_COUNTER_CHANGES = 3;
const FULL_BATCH = 100;

/**
 * Runs each operation `repeats` times through its real bundled handler, with DynamoDB behind a
 * proxy that asks for ReturnConsumedCapacity TOTAL on every request and records the answer; then
 * hands the stream records those changes produced to the bundled consumer the same way. Nothing is
 * computed from what the code is believed to send: what crossed the wire is what is counted.
 */
export async function measureCapacity(options: {
  bundles: ReadonlyMap<string, BuiltBundle>;
  environment: Record<string, string>;
  engineEndpoint: string;
  region: string;
  tables: Record<string, string>;
  db: DynamoDBClient;
  repeats: number;
}): Promise<CapacityResult> {
  const proxy = await new CapacityProxy(options.engineEndpoint).start();
  const streams = new DynamoDBStreamsClient({
    endpoint: options.engineEndpoint,
    region: options.region,
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  try {
    // The whole section runs with the proxy as the endpoint: a client created lazily, on a first
    // request rather than at import, must find it too.
    return await withEnvironment({ ...options.environment, DYNAMODB_ENDPOINT: proxy.url }, () =>
      run(proxy, streams, options),
    );
  } finally {
    streams.destroy();
    await proxy.stop();
  }
}

async function run(
  proxy: CapacityProxy,
  streams: DynamoDBStreamsClient,
  options: Parameters<typeof measureCapacity>[0],
): Promise<CapacityResult> {
  const { repeats } = options;
  const countersTable = options.tables.counters;
  if (countersTable === undefined) throw new Error('the local service reported no counters table');
  const roleOf = new Map(Object.entries(options.tables).map(([role, name]) => [name, role]));
  const handlers = new Map<string, HttpHandler>();
  const load = async (id: string) => {
    const bundle = options.bundles.get(id);
    if (bundle === undefined) throw new Error(`the capacity section needs the ${id} bundle`);
    handlers.set(id, await importBundle<APIGatewayProxyEventV2WithIAMAuthorizer>(bundle.file, 'capacity'));
  };
  for (const spec of Object.values(FUNCTIONS)) await load(spec.id);
  const consumerBundle = options.bundles.get(HISTORY_CONSUMER.id);
  if (consumerBundle === undefined) throw new Error('the capacity section needs the consumer bundle');
  const consumer = await importBundle<DynamoDBStreamEvent>(consumerBundle.file, 'capacity');

  const { Table } = await options.db.send(new DescribeTableCommand({ TableName: countersTable }));
  const streamArn = Table?.LatestStreamArn;
  if (streamArn === undefined) throw new Error('the counters table has no stream');
  const reader = new StreamReader(streams, streamArn);
  // Whatever earlier sections wrote is theirs, not ours.
  await reader.drain();

  const call = async (label: string, fn: string, request: HttpCall, expected: number): Promise<number> => {
    const handler = handlers.get(fn);
    if (handler === undefined) throw new Error(`no handler ${fn}`);
    proxy.label = label;
    const started = performance.now();
    const result = await handler(httpEvent(request), context(fn));
    const wall = performance.now() - started;
    if (statusOf(result) !== expected) {
      throw new Error(
        `${label}: ${fn} answered ${statusOf(result)}, expected ${expected}: ${JSON.stringify(result)}`,
      );
    }
    return wall;
  };
  const feedStream = async (
    label: string,
    batchSize: number,
  ): Promise<{ changes: number; walls: number[]; logBytes: number }> => {
    const records = await reader.drain();
    const bytesBefore = stdoutCapture.bytes;
    const walls: number[] = [];
    proxy.label = label;
    for (let i = 0; i < records.length; i += batchSize) {
      const event: DynamoDBStreamEvent = {
        Records: records
          .slice(i, i + batchSize)
          .map((record) => toLambdaRecord(record, streamArn, options.region)),
      };
      const started = performance.now();
      const result: unknown = await consumer(event, context(HISTORY_CONSUMER.id));
      walls.push(performance.now() - started);
      if (!isEmptyBatchResponse(result))
        throw new Error(`${label}: the consumer failed: ${JSON.stringify(result)}`);
    }
    return {
      changes: records.length,
      walls,
      logBytes: (stdoutCapture.bytes - bytesBefore) / Math.max(1, records.length),
    };
  };

  const inc = FUNCTIONS.incrementCounter.id;
  const counter = (name: string, extra: Partial<HttpCall> = {}): HttpCall => ({
    method: 'POST',
    route: '/counters/{name}',
    path: `/counters/${name}`,
    pathParameters: { name },
    ...extra,
  });
  const id = (prefix: string, i: number) => `${prefix}-${String(i).padStart(4, '0')}`;

  // Setup, not counted: the counters the operations work on, and their history.
  await call('setup', inc, counter(id('cap-inc', 0)), 200);
  await call(
    'setup',
    FUNCTIONS.setCounter.id,
    counter(id('cap-set', 0), { method: 'PUT', body: { value: 0 } }),
    200,
  );
  for (let i = 0; i < LIST_COUNTERS; i++) await call('setup', inc, counter(id('cap-list', i)), 200);
  for (let i = 0; i < HISTORY_ENTRIES; i++) await call('setup', inc, counter(id('cap-hist', 0)), 200);
  // One more than counted: the warm-up deletes one too.
  for (let i = 0; i <= repeats; i++) {
    for (let j = 0; j < DELETED_COUNTER_CHANGES; j++)
      await call('setup', inc, counter(id('cap-del', i)), 200);
  }
  await feedStream('setup', FULL_BATCH);

  const rows: CapacityRow[] = [];
  /**
   * One warm-up call (index `repeats`, not counted), then `repeats` counted calls; then, if the
   * operation changes counters, its stream records go to the consumer one per invocation, as under
   * quiet traffic, which is the consumer's most expensive case.
   */
  const measure = async (
    operation: string,
    fn: string,
    request: (i: number) => HttpCall,
    expected: number,
    changes: boolean,
  ) => {
    await call('warm-up', fn, request(repeats), expected);
    await feedStream('warm-up', 1);
    const walls: number[] = [];
    const bytesBefore = stdoutCapture.bytes;
    for (let i = 0; i < repeats; i++) walls.push(await call(operation, fn, request(i), expected));
    const logBytes = (stdoutCapture.bytes - bytesBefore) / repeats;
    const seen = proxy.recorded(operation);
    if (seen.length === 0) {
      throw new Error(
        `${operation}: the proxy saw no DynamoDB request; does ${fn} still read DYNAMODB_ENDPOINT?`,
      );
    }
    const row: CapacityRow = {
      operation,
      function: fn,
      repeats,
      ...tally(seen, repeats, roleOf),
      counterWriteRequests:
        seen.filter((r) => WRITE_OPERATIONS.has(r.operation) && r.tables.includes(countersTable)).length /
        repeats,
      wallMs: summarize(walls),
      logBytes,
    };
    if (changes) {
      const label = `stream: ${operation}`;
      const fed = await feedStream(label, 1);
      row.stream = {
        label,
        changes: fed.changes,
        batchSize: 1,
        ...tally(proxy.recorded(label), Math.max(1, fed.changes), roleOf),
        wallMs: summarize(fed.walls),
        logBytes: fed.logBytes,
      };
    }
    rows.push(row);
  };

  await measure('plain increment', inc, () => counter(id('cap-inc', 0)), 200, true);
  await measure('increment that creates the counter', inc, (i) => counter(id('cap-new', i)), 200, true);
  await measure(
    'keyed increment (Idempotency-Key)',
    inc,
    (i) => counter(id('cap-inc', 0), { headers: { 'idempotency-key': `bench-${i}-${randomUUID()}` } }),
    200,
    true,
  );
  await measure(
    'set',
    FUNCTIONS.setCounter.id,
    (i) => counter(id('cap-set', 0), { method: 'PUT', body: { value: i + 1 } }),
    200,
    true,
  );
  await measure(
    'get',
    FUNCTIONS.getCounter.id,
    () => counter(id('cap-inc', 0), { method: 'GET' }),
    200,
    false,
  );
  await measure(
    `list page (${LIST_LIMIT} counters)`,
    FUNCTIONS.listCounters.id,
    () => ({
      method: 'GET',
      route: '/counters',
      path: '/counters',
      query: `prefix=cap-list-&limit=${LIST_LIMIT}`,
    }),
    200,
    false,
  );
  await measure(
    'history page (100 entries)',
    FUNCTIONS.getHistory.id,
    () => ({
      method: 'GET',
      route: '/counters/{name}/history',
      path: `/counters/${id('cap-hist', 0)}/history`,
      pathParameters: { name: id('cap-hist', 0) },
      query: 'limit=100',
    }),
    200,
    false,
  );
  await measure(
    `delete (a counter with ${DELETED_COUNTER_CHANGES} history entries)`,
    FUNCTIONS.deleteCounter.id,
    (i) => counter(id('cap-del', i), { method: 'DELETE' }),
    204,
    true,
  );

  // The consumer when traffic fills its batches.
  for (let i = 0; i < FULL_BATCH; i++) await call('setup', inc, counter(id('cap-batch', 0)), 200);
  const fullLabel = `stream: ${FULL_BATCH} increments in one invocation`;
  const fed = await feedStream(fullLabel, FULL_BATCH);
  const fullBatch: StreamRow = {
    label: fullLabel,
    changes: fed.changes,
    batchSize: FULL_BATCH,
    ...tally(proxy.recorded(fullLabel), Math.max(1, fed.changes), roleOf),
    wallMs: summarize(fed.walls),
    logBytes: fed.logBytes,
  };

  const counterItem = await options.db.send(
    new GetItemCommand({
      TableName: countersTable,
      Key: { name: { S: id('cap-inc', 0) } },
      ConsistentRead: true,
    }),
  );
  // Any entry will do: they all have the same attributes.
  const historyTable = options.tables.history;
  const historyEntry =
    historyTable === undefined
      ? undefined
      : await options.db.send(new ScanCommand({ TableName: historyTable, Limit: 1 }));
  const layout = async (name: string | undefined) =>
    name === undefined
      ? undefined
      : (await options.db.send(new DescribeTableCommand({ TableName: name }))).Table;
  const stored = (item: Record<string, AttributeValue> | undefined, table: TableLayout | undefined) =>
    item === undefined || table === undefined
      ? { itemBytes: Number.NaN, storedBytes: Number.NaN }
      : { itemBytes: itemSize(item), storedBytes: storedBytes(item, table) };
  const plain = rows.find((row) => row.operation === 'plain increment');
  return {
    rows,
    fullBatch,
    plainIncrementCounterWrites: plain?.counterWriteRequests ?? Number.NaN,
    storage: {
      counter: stored(counterItem.Item, await layout(countersTable)),
      historyEntry: stored(historyEntry?.Items?.[0], await layout(historyTable)),
    },
    tables: options.tables,
  };
}

function isEmptyBatchResponse(result: unknown): result is DynamoDBBatchResponse {
  return (
    typeof result === 'object' &&
    result !== null &&
    'batchItemFailures' in result &&
    Array.isArray(result.batchItemFailures) &&
    result.batchItemFailures.length === 0
  );
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
