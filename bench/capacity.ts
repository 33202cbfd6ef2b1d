/**
 * The capacity section of `npm run bench`: what each operation costs in DynamoDB requests, capacity
 * units and log bytes, end to end through the real bundled handlers and consumer.
 */
import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type {
  APIGatewayProxyEventV2WithIAMAuthorizer,
  DynamoDBBatchResponse,
  DynamoDBStreamEvent,
} from 'aws-lambda';
import type { LocalService } from '../lib/local/server.ts';
import { toLambdaRecord } from '../lib/local/stream-poller.ts';
import { FUNCTIONS, HISTORY_CONSUMER } from '../lib/routes.ts';
import type { BuiltBundle } from './bundling.ts';
import { CapacityProxy, WRITE_OPERATIONS } from './capacity-proxy.ts';
import { type CapacityResult, type CapacityRow, type StreamRow, tally } from './capacity-report.ts';
import { context, type HttpCall, httpEvent, importBundle, type LambdaHandler, statusOf } from './invoke.ts';
import { itemSize, storedBytes, type TableLayout } from './item-size.ts';
import { withEnvironment } from './local-service.ts';
import { stdoutCapture } from './output-capture.ts';
import { summarize } from './stats.ts';
import { StreamReader } from './stream-reader.ts';

type HttpHandler = LambdaHandler<APIGatewayProxyEventV2WithIAMAuthorizer>;

const LIST_COUNTERS = 60;
const LIST_LIMIT = 50;
const HISTORY_ENTRIES = 120;
const DELETED_COUNTER_CHANGES = 3;
const FULL_BATCH = 100;

/** One kind of request the section measures: through which function, on which counters. */
interface Operation {
  operation: string;
  fn: string;
  /** The `i`th call; `repeats` is the warm-up's. */
  request: (i: number) => HttpCall;
  expected: number;
  /** It changes counters, so the consumer's work for it is measured too. */
  changes: boolean;
}

const id = (prefix: string, i: number) => `${prefix}-${String(i).padStart(4, '0')}`;

const counter = (name: string, extra: Partial<HttpCall> = {}): HttpCall => ({
  method: 'POST',
  route: '/counters/{name}',
  path: `/counters/${name}`,
  pathParameters: { name },
  ...extra,
});

const INC = FUNCTIONS.incrementCounter.id;

/** Every operation, in the order the report lists them. */
const OPERATIONS: Operation[] = [
  {
    operation: 'plain increment',
    fn: INC,
    request: () => counter(id('cap-inc', 0)),
    expected: 200,
    changes: true,
  },
  {
    operation: 'increment that creates the counter',
    fn: INC,
    request: (i) => counter(id('cap-new', i)),
    expected: 200,
    changes: true,
  },
  {
    operation: 'keyed increment (Idempotency-Key)',
    fn: INC,
    request: (i) =>
      counter(id('cap-inc', 0), { headers: { 'idempotency-key': `bench-${i}-${randomUUID()}` } }),
    expected: 200,
    changes: true,
  },
  {
    operation: 'set',
    fn: FUNCTIONS.setCounter.id,
    request: (i) => counter(id('cap-set', 0), { method: 'PUT', body: { value: i + 1 } }),
    expected: 200,
    changes: true,
  },
  {
    operation: 'get',
    fn: FUNCTIONS.getCounter.id,
    request: () => counter(id('cap-inc', 0), { method: 'GET' }),
    expected: 200,
    changes: false,
  },
  {
    operation: `list page (${LIST_LIMIT} counters)`,
    fn: FUNCTIONS.listCounters.id,
    request: () => ({
      method: 'GET',
      route: '/counters',
      path: '/counters',
      query: `prefix=cap-list-&limit=${LIST_LIMIT}`,
    }),
    expected: 200,
    changes: false,
  },
  {
    operation: 'history page (100 entries)',
    fn: FUNCTIONS.getHistory.id,
    request: () => ({
      method: 'GET',
      route: '/counters/{name}/history',
      path: `/counters/${id('cap-hist', 0)}/history`,
      pathParameters: { name: id('cap-hist', 0) },
      query: 'limit=100',
    }),
    expected: 200,
    changes: false,
  },
  {
    operation: `delete (a counter with ${DELETED_COUNTER_CHANGES} history entries)`,
    fn: FUNCTIONS.deleteCounter.id,
    request: (i) => counter(id('cap-del', i), { method: 'DELETE' }),
    expected: 204,
    changes: true,
  },
];

/**
 * Runs each operation `repeats` times through its real bundled handler, with DynamoDB behind a
 * proxy that asks for ReturnConsumedCapacity TOTAL on every request and records the answer; then
 * hands the stream records those changes produced to the bundled consumer the same way. Nothing is
 * computed from what the code is believed to send: what crossed the wire is what is counted.
 */
export async function measureCapacity(options: {
  bundles: ReadonlyMap<string, BuiltBundle>;
  environment: Record<string, string>;
  service: LocalService;
  repeats: number;
}): Promise<CapacityResult> {
  const { service } = options;
  const credentials = { accessKeyId: 'bench', secretAccessKey: 'bench' };
  const proxy = await new CapacityProxy(service.engineEndpoint).start();
  const db = new DynamoDBClient({ endpoint: service.engineEndpoint, region: service.region, credentials });
  const streams = new DynamoDBStreamsClient({
    endpoint: service.engineEndpoint,
    region: service.region,
    credentials,
  });
  try {
    // The whole section runs with the proxy as the endpoint: a client created lazily, on a first
    // request rather than at import, must find it too.
    return await withEnvironment({ ...options.environment, DYNAMODB_ENDPOINT: proxy.url }, async () => {
      const run = await CapacityRun.start({
        ...options,
        proxy,
        db,
        streams,
        region: service.region,
        tables: { ...service.tables },
      });
      return run.measure();
    });
  } finally {
    streams.destroy();
    db.destroy();
    await proxy.stop();
  }
}

interface RunSetup {
  bundles: ReadonlyMap<string, BuiltBundle>;
  proxy: CapacityProxy;
  db: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  region: string;
  tables: Record<string, string>;
  repeats: number;
}

/** The section's run: the bundled handlers and consumer loaded, the stream read from where it was. */
class CapacityRun {
  private readonly rows: CapacityRow[] = [];
  private readonly roleOf: ReadonlyMap<string, string>;

  private constructor(
    private readonly setup: RunSetup,
    private readonly countersTable: string,
    private readonly handlers: ReadonlyMap<string, HttpHandler>,
    private readonly consumer: LambdaHandler<DynamoDBStreamEvent>,
    private readonly reader: StreamReader,
    private readonly streamArn: string,
  ) {
    this.roleOf = new Map(Object.entries(setup.tables).map(([role, name]) => [name, role]));
  }

  static async start(setup: RunSetup): Promise<CapacityRun> {
    const countersTable = setup.tables.counters;
    if (countersTable === undefined) throw new Error('the local service reported no counters table');
    const bundleOf = (fn: string) => {
      const bundle = setup.bundles.get(fn);
      if (bundle === undefined) throw new Error(`the capacity section needs the ${fn} bundle`);
      return bundle.file;
    };
    const handlers = new Map<string, HttpHandler>();
    for (const spec of Object.values(FUNCTIONS)) {
      handlers.set(
        spec.id,
        await importBundle<APIGatewayProxyEventV2WithIAMAuthorizer>(bundleOf(spec.id), 'capacity'),
      );
    }
    const consumer = await importBundle<DynamoDBStreamEvent>(bundleOf(HISTORY_CONSUMER.id), 'capacity');
    const { Table } = await setup.db.send(new DescribeTableCommand({ TableName: countersTable }));
    const streamArn = Table?.LatestStreamArn;
    if (streamArn === undefined) throw new Error('the counters table has no stream');
    const reader = new StreamReader(setup.streams, streamArn);
    // Whatever earlier sections wrote is theirs, not ours.
    await reader.drain();
    return new CapacityRun(setup, countersTable, handlers, consumer, reader, streamArn);
  }

  async measure(): Promise<CapacityResult> {
    await this.createCounters();
    for (const operation of OPERATIONS) this.rows.push(await this.measureOperation(operation));
    const fullBatch = await this.measureFullBatch();
    const plain = this.rows.find((row) => row.operation === 'plain increment');
    return {
      rows: this.rows,
      fullBatch,
      plainIncrementCounterWrites: plain?.counterWriteRequests ?? Number.NaN,
      storage: await this.storage(),
      tables: this.setup.tables,
    };
  }

  /** Setup, not counted: the counters the operations work on, and their history. */
  private async createCounters(): Promise<void> {
    await this.call('setup', INC, counter(id('cap-inc', 0)), 200);
    await this.call(
      'setup',
      FUNCTIONS.setCounter.id,
      counter(id('cap-set', 0), { method: 'PUT', body: { value: 0 } }),
      200,
    );
    for (let i = 0; i < LIST_COUNTERS; i++) await this.call('setup', INC, counter(id('cap-list', i)), 200);
    for (let i = 0; i < HISTORY_ENTRIES; i++) await this.call('setup', INC, counter(id('cap-hist', 0)), 200);
    // One more than counted: the warm-up deletes one too.
    for (let i = 0; i <= this.setup.repeats; i++) {
      for (let j = 0; j < DELETED_COUNTER_CHANGES; j++)
        await this.call('setup', INC, counter(id('cap-del', i)), 200);
    }
    await this.feedStream('setup', FULL_BATCH);
  }

  /**
   * One warm-up call (index `repeats`, not counted), then `repeats` counted calls; then, if the
   * operation changes counters, its stream records go to the consumer one per invocation, as under
   * quiet traffic, which is the consumer's most expensive case.
   */
  private async measureOperation({
    operation,
    fn,
    request,
    expected,
    changes,
  }: Operation): Promise<CapacityRow> {
    const { proxy, repeats } = this.setup;
    await this.call('warm-up', fn, request(repeats), expected);
    await this.feedStream('warm-up', 1);
    const walls: number[] = [];
    const bytesBefore = stdoutCapture.bytes;
    for (let i = 0; i < repeats; i++) walls.push(await this.call(operation, fn, request(i), expected));
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
      ...tally(seen, repeats, this.roleOf),
      counterWriteRequests:
        seen.filter((r) => WRITE_OPERATIONS.has(r.operation) && r.tables.includes(this.countersTable))
          .length / repeats,
      wallMs: summarize(walls),
      logBytes,
    };
    if (changes) row.stream = await this.streamRow(`stream: ${operation}`, 1);
    return row;
  }

  /** The consumer when traffic fills its batches. */
  private async measureFullBatch(): Promise<StreamRow> {
    for (let i = 0; i < FULL_BATCH; i++) await this.call('setup', INC, counter(id('cap-batch', 0)), 200);
    return this.streamRow(`stream: ${FULL_BATCH} increments in one invocation`, FULL_BATCH);
  }

  /** The records waiting on the stream, fed to the consumer `batchSize` at a time, counted under `label`. */
  private async streamRow(label: string, batchSize: number): Promise<StreamRow> {
    const fed = await this.feedStream(label, batchSize);
    return {
      label,
      changes: fed.changes,
      batchSize,
      ...tally(this.setup.proxy.recorded(label), Math.max(1, fed.changes), this.roleOf),
      wallMs: summarize(fed.walls),
      logBytes: fed.logBytes,
    };
  }

  private async call(label: string, fn: string, request: HttpCall, expected: number): Promise<number> {
    const handler = this.handlers.get(fn);
    if (handler === undefined) throw new Error(`no handler ${fn}`);
    this.setup.proxy.label = label;
    const started = performance.now();
    const result = await handler(httpEvent(request), context(fn));
    const wall = performance.now() - started;
    if (statusOf(result) !== expected) {
      throw new Error(
        `${label}: ${fn} answered ${statusOf(result)}, expected ${expected}: ${JSON.stringify(result)}`,
      );
    }
    return wall;
  }

  private async feedStream(
    label: string,
    batchSize: number,
  ): Promise<{ changes: number; walls: number[]; logBytes: number }> {
    const records = await this.reader.drain();
    const bytesBefore = stdoutCapture.bytes;
    const walls: number[] = [];
    this.setup.proxy.label = label;
    for (let i = 0; i < records.length; i += batchSize) {
      const event: DynamoDBStreamEvent = {
        Records: records
          .slice(i, i + batchSize)
          .map((record) => toLambdaRecord(record, this.streamArn, this.setup.region)),
      };
      const started = performance.now();
      const result: unknown = await this.consumer(event, context(HISTORY_CONSUMER.id));
      walls.push(performance.now() - started);
      if (!isEmptyBatchResponse(result))
        throw new Error(`${label}: the consumer failed: ${JSON.stringify(result)}`);
    }
    return {
      changes: records.length,
      walls,
      logBytes: (stdoutCapture.bytes - bytesBefore) / Math.max(1, records.length),
    };
  }

  /** A counter's and a history entry's size, and what each occupies with index entries and overheads. */
  private async storage(): Promise<CapacityResult['storage']> {
    const { db, tables } = this.setup;
    const counterItem = await db.send(
      new GetItemCommand({
        TableName: this.countersTable,
        Key: { name: { S: id('cap-inc', 0) } },
        ConsistentRead: true,
      }),
    );
    // Any entry will do: they all have the same attributes.
    const historyTable = tables.history;
    const historyEntry =
      historyTable === undefined
        ? undefined
        : await db.send(new ScanCommand({ TableName: historyTable, Limit: 1 }));
    const layout = async (name: string | undefined) =>
      name === undefined ? undefined : (await db.send(new DescribeTableCommand({ TableName: name }))).Table;
    const stored = (item: Record<string, AttributeValue> | undefined, table: TableLayout | undefined) =>
      item === undefined || table === undefined
        ? { itemBytes: Number.NaN, storedBytes: Number.NaN }
        : { itemBytes: itemSize(item), storedBytes: storedBytes(item, table) };
    return {
      counter: stored(counterItem.Item, await layout(this.countersTable)),
      historyEntry: stored(historyEntry?.Items?.[0], await layout(historyTable)),
    };
  }
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
