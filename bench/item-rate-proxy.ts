import {
  Agent,
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { closeServer, isObject, listenOnLoopback, parseObject, readAll } from './capacity-proxy.ts';
import { itemSize } from './item-size.ts';

/** The per-item write limit the proxy applies; DynamoDB's own is about 1,000 write units per second. */
export interface ItemRateLimit {
  /** Write units per second each (table, partition key) may take. */
  writesPerSecond: number;
  /** Units an idle item may take at once, above the steady rate. */
  burst: number;
  /**
   * Read units per second per item (DynamoDB's is about 3,000); undefined leaves reads unlimited.
   * Counts `GetItem` (1 unit, 0.5 eventually consistent) and each item of `TransactGetItems` (2).
   */
  readsPerSecond?: number | undefined;
}

/** What went through the proxy since the last `resetCounts()`. */
export interface ItemRateCounts {
  /** Write requests forwarded, by table (a transaction counts once for each table it names). */
  forwardedWrites: Record<string, number>;
  /** Write requests refused, by table, each as DynamoDB would have refused it. */
  throttledWrites: Record<string, number>;
  /** Read requests refused, by table (only with `readsPerSecond`). */
  throttledReads: Record<string, number>;
  /** Read units forwarded, by table and partition key value (only with `readsPerSecond`). */
  readUnitsByItem: Record<string, Record<string, number>>;
  /** Write units forwarded, by table and partition key value (its DynamoDB JSON). */
  unitsByItem: Record<string, Record<string, number>>;
  /** When (performance.now()) the last write to each table was forwarded or refused. */
  lastWriteAt: Record<string, number>;
  /** Forwarded writes the engine refused, by error type (ConditionalCheckFailedException, ...). */
  engineRefusals: Record<string, number>;
}

/** Single-item writes; a transaction's items are found in its TransactItems. */
const SINGLE_WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem']);

/** DynamoDB charges two write units per KB of each item of a transaction, one outside one. */
const TRANSACTION_UNITS_PER_ITEM = 2;

/**
 * Write units of a write of `attributes`: a put's by the size of its item (DynamoDB rounds up to
 * 1 KB); an update's or delete's as 1, since the item's size is not in the request (counters,
 * shards, sequencers and rollups are all under 1 KB).
 */
function unitsOf(kind: string, attributes: unknown): number {
  if (kind !== 'Put' && kind !== 'PutItem') return 1;
  if (!isObject(attributes)) return 1;
  return Math.max(1, Math.ceil(itemSize(attributes as Record<string, AttributeValue>) / 1024));
}

interface Bucket {
  tokens: number;
  at: number;
}

interface ItemAccess {
  table: string;
  /** The partition key value as DynamoDB JSON, e.g. `{"S":"page-views"}`; undefined when not found. */
  partition: string | undefined;
  units: number;
}

/**
 * An HTTP proxy between the local server and the local engine that gives each item DynamoDB's write
 * ceiling, scaled down: a token bucket per (table, partition key) for `PutItem`, `UpdateItem`,
 * `DeleteItem` and every item a `TransactWriteItems` names. Over the limit it answers as DynamoDB does
 * and forwards nothing: a single write gets HTTP 400 `ProvisionedThroughputExceededException` (with
 * the `TableWriteKeyRangeThroughputExceeded` reason), which the SDK treats as throttling and retries;
 * a transaction gets `TransactionCanceledException` with a `ThrottlingError` reason for each item that
 * was over. A refused request takes no tokens, as a throttled request consumes no capacity. A request
 * that needs more units than the burst passes once the bucket is full, and leaves it in debt.
 *
 * Everything else (reads, BatchWriteItem, table and stream operations) passes through untouched,
 * unless `readsPerSecond` is given: then `GetItem` and `TransactGetItems` meet a per-item read limit
 * in the same way.
 * The local engine enforces no limit of its own, so without this proxy a hot counter is bounded only
 * by this machine's CPU, and sharding would show nothing.
 */
export class ItemRateProxy {
  url = '';
  private server: Server | undefined;
  private readonly agent = new Agent({ keepAlive: true });
  private readonly buckets = new Map<string, Bucket>();
  private readonly partitionKeys = new Map<string, Promise<string | undefined>>();
  private limit: ItemRateLimit | undefined;
  private counts: ItemRateCounts = emptyCounts();
  /** For the tables' key schemas; the engine wants a signature, which the SDK makes. */
  private readonly engine: DynamoDBClient;

  constructor(
    private readonly target: string,
    limit: ItemRateLimit | undefined,
  ) {
    this.limit = limit;
    this.engine = new DynamoDBClient({
      endpoint: target,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(String(error));
      });
    });
    // Node closes idle keep-alive connections after 5 s by default; a client that sends on one at that
    // moment gets "socket hang up", which the handlers answer 500. The engine keeps them open longer.
    server.keepAliveTimeout = 120_000;
    server.headersTimeout = 121_000;
    this.server = server;
    this.url = await listenOnLoopback(server);
    return this;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
    this.agent.destroy();
    this.engine.destroy();
  }

  /** A new limit from now on; undefined lets everything through. Buckets start full. */
  setLimit(limit: ItemRateLimit | undefined): void {
    this.limit = limit;
    this.buckets.clear();
  }

  /** The counts since the last reset. */
  snapshot(): ItemRateCounts {
    return structuredClone(this.counts);
  }

  resetCounts(): void {
    this.counts = emptyCounts();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
    const limitsReads = this.limit?.readsPerSecond !== undefined;
    if (limitsReads && (operation === 'GetItem' || operation === 'TransactGetItems')) {
      await this.read(operation, req, res);
      return;
    }
    if (!SINGLE_WRITES.has(operation) && operation !== 'TransactWriteItems') {
      this.forward(req, res, undefined);
      return;
    }
    const body = await readAll(req);
    const input = parseObject(body);
    const writes = input === undefined ? [] : await this.writesOf(operation, input);
    const limit = this.limit;
    const refused =
      limit === undefined ? new Set<number>() : this.take(writes, 'w', limit.writesPerSecond, limit.burst);
    const tables = [...new Set(writes.map((write) => write.table))];
    const now = performance.now();
    for (const table of tables) this.counts.lastWriteAt[table] = now;
    if (refused.size > 0) {
      for (const table of tables) add(this.counts.throttledWrites, table, 1);
      if (operation === 'TransactWriteItems') transactionThrottled(res, writes, refused);
      else itemThrottled(res, writes[0]?.table ?? '', 'Write');
      return;
    }
    for (const table of tables) add(this.counts.forwardedWrites, table, 1);
    for (const write of writes) {
      this.counts.unitsByItem[write.table] ??= {};
      const byItem = this.counts.unitsByItem[write.table] ?? {};
      add(byItem, write.partition ?? '(unknown)', write.units);
    }
    this.forward(req, res, body);
  }

  /** A read under a read limit: forwarded, or refused as DynamoDB refuses a read over its partition's. */
  private async read(operation: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readAll(req);
    const input = parseObject(body);
    const reads = input === undefined ? [] : await this.readsOf(operation, input);
    const limit = this.limit;
    const rate = limit?.readsPerSecond;
    // Reads get as many seconds of burst as writes do.
    const refused =
      limit === undefined || rate === undefined
        ? new Set<number>()
        : this.take(reads, 'r', rate, Math.max(1, (limit.burst * rate) / limit.writesPerSecond));
    if (refused.size > 0) {
      for (const table of new Set(reads.map((entry) => entry.table)))
        add(this.counts.throttledReads, table, 1);
      if (operation === 'TransactGetItems') transactionThrottled(res, reads, refused);
      else itemThrottled(res, reads[0]?.table ?? '', 'Read');
      return;
    }
    for (const entry of reads) {
      this.counts.readUnitsByItem[entry.table] ??= {};
      const byItem = this.counts.readUnitsByItem[entry.table] ?? {};
      add(byItem, entry.partition ?? '(unknown)', entry.units);
    }
    this.forward(req, res, body);
  }

  private async readsOf(operation: string, input: Record<string, unknown>): Promise<ItemAccess[]> {
    if (operation === 'GetItem') {
      const table = typeof input.TableName === 'string' ? input.TableName : '';
      const units = input.ConsistentRead === true ? 1 : 0.5;
      return [{ table, partition: await this.partitionOf(table, input.Key), units }];
    }
    const items = Array.isArray(input.TransactItems) ? input.TransactItems : [];
    const reads: ItemAccess[] = [];
    for (const item of items) {
      const action = isObject(item) ? item.Get : undefined;
      const table = isObject(action) && typeof action.TableName === 'string' ? action.TableName : '';
      const key = isObject(action) ? action.Key : undefined;
      reads.push({ table, partition: await this.partitionOf(table, key), units: TRANSACTION_UNITS_PER_ITEM });
    }
    return reads;
  }

  /**
   * Takes each access's units from its item's bucket of this kind (`w` or `r`) if every bucket has
   * enough, and answers the indexes of the accesses whose bucket did not (nothing is taken then).
   */
  private take(writes: ItemAccess[], kind: 'w' | 'r', rate: number, burst: number): Set<number> {
    const refused = new Set<number>();
    const now = performance.now();
    const wanted = new Map<string, number>();
    for (const write of writes) {
      if (write.partition === undefined) continue;
      const key = `${kind}\u0000${bucketKey(write)}`;
      wanted.set(key, (wanted.get(key) ?? 0) + write.units);
    }
    const buckets = new Map<string, Bucket>();
    for (const key of wanted.keys()) {
      const bucket = this.buckets.get(key) ?? { tokens: burst, at: now };
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * rate);
      bucket.at = now;
      this.buckets.set(key, bucket);
      buckets.set(key, bucket);
    }
    writes.forEach((write, index) => {
      if (write.partition === undefined) return;
      const key = `${kind}\u0000${bucketKey(write)}`;
      // A request larger than the burst (a transaction of many items of one partition key) goes
      // through when the bucket is full and leaves it in debt: the scaled-down limit must not refuse
      // for ever what DynamoDB's 1,000 units per second would take, and the long-run rate stays the limit.
      const needed = Math.min(wanted.get(key) ?? 0, burst);
      if ((buckets.get(key)?.tokens ?? 0) < needed) refused.add(index);
    });
    if (refused.size === 0) {
      for (const [key, units] of wanted) {
        const bucket = buckets.get(key);
        if (bucket !== undefined) bucket.tokens -= units;
      }
    }
    return refused;
  }

  private async writesOf(operation: string, input: Record<string, unknown>): Promise<ItemAccess[]> {
    if (SINGLE_WRITES.has(operation)) {
      const table = typeof input.TableName === 'string' ? input.TableName : '';
      const attributes = operation === 'PutItem' ? input.Item : input.Key;
      return [
        {
          table,
          partition: await this.partitionOf(table, attributes),
          units: unitsOf(operation, input.Item),
        },
      ];
    }
    const items = Array.isArray(input.TransactItems) ? input.TransactItems : [];
    const writes: ItemAccess[] = [];
    for (const item of items) {
      // Each entry holds one of Put, Update, Delete, ConditionCheck.
      const [kind, action] = isObject(item) ? (Object.entries(item)[0] ?? []) : [];
      const table = isObject(action) && typeof action.TableName === 'string' ? action.TableName : '';
      const attributes = isObject(action) ? (kind === 'Put' ? action.Item : action.Key) : undefined;
      writes.push({
        table,
        partition: await this.partitionOf(table, attributes),
        units: TRANSACTION_UNITS_PER_ITEM * unitsOf(String(kind), isObject(action) ? action.Item : undefined),
      });
    }
    return writes;
  }

  private async partitionOf(table: string, attributes: unknown): Promise<string | undefined> {
    if (table === '' || !isObject(attributes)) return undefined;
    const name = await this.partitionKeyName(table);
    const value = name === undefined ? undefined : attributes[name];
    return value === undefined ? undefined : JSON.stringify(value);
  }

  /** The table's partition key attribute, asked of the engine once per table. */
  private partitionKeyName(table: string): Promise<string | undefined> {
    let known = this.partitionKeys.get(table);
    if (known === undefined) {
      known = this.describePartitionKey(table);
      this.partitionKeys.set(table, known);
    }
    return known;
  }

  private async describePartitionKey(table: string): Promise<string | undefined> {
    try {
      const { Table } = await this.engine.send(new DescribeTableCommand({ TableName: table }));
      const name = Table?.KeySchema?.find((element) => element.KeyType === 'HASH')?.AttributeName;
      if (name !== undefined) return name;
    } catch {
      // Not known (yet): ask again next time rather than leave the table unlimited for good.
    }
    this.partitionKeys.delete(table);
    return undefined;
  }

  /** Why the engine refused a forwarded write: its error's `__type` after the '#'. */
  private noteRefusal(answer: IncomingMessage): void {
    const chunks: Buffer[] = [];
    answer.on('data', (chunk: Buffer) => chunks.push(chunk));
    answer.once('end', () => {
      const type = parseObject(Buffer.concat(chunks))?.__type;
      const name = typeof type === 'string' ? (type.split('#').at(-1) ?? type) : `HTTP ${answer.statusCode}`;
      add(this.counts.engineRefusals, name, 1);
    });
  }

  /** Sends the request on to the engine: the buffered body if given, else the request's own stream. */
  private forward(req: IncomingMessage, res: ServerResponse, body: Buffer | undefined): void {
    const upstream = new URL(this.target);
    const forwarded = request(
      {
        agent: this.agent,
        hostname: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        if (body !== undefined && answer.statusCode !== 200) this.noteRefusal(answer);
        answer.pipe(res);
      },
    );
    forwarded.once('error', () => res.socket?.destroy());
    if (body === undefined) req.pipe(forwarded);
    else forwarded.end(body);
  }
}

function emptyCounts(): ItemRateCounts {
  return {
    forwardedWrites: {},
    throttledWrites: {},
    throttledReads: {},
    readUnitsByItem: {},
    unitsByItem: {},
    lastWriteAt: {},
    engineRefusals: {},
  };
}

function bucketKey(write: ItemAccess): string {
  return `${write.table}\u0000${write.partition ?? ''}`;
}

function add(counts: Record<string, number>, key: string, amount: number): void {
  counts[key] = (counts[key] ?? 0) + amount;
}

function tableArn(table: string): string {
  return `arn:aws:dynamodb:us-east-1:000000000000:table/${table}`;
}

function answer(res: ServerResponse, payload: Record<string, unknown>): void {
  const text = JSON.stringify(payload);
  res.writeHead(400, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** DynamoDB's answer to a single read or write over its item's partition limit. */
function itemThrottled(res: ServerResponse, table: string, kind: 'Read' | 'Write'): void {
  answer(res, {
    __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
    message:
      'Throughput exceeds the current throughput limit for your partition key (emulated per-item limit).',
    ThrottlingReasons: [{ reason: `Table${kind}KeyRangeThroughputExceeded`, resource: tableArn(table) }],
  });
}

/** DynamoDB's answer to a transaction one of whose items was over its limit: nothing is applied or read. */
function transactionThrottled(res: ServerResponse, writes: ItemAccess[], refused: Set<number>): void {
  const reasons = writes.map((_, index) =>
    refused.has(index)
      ? {
          Code: 'ThrottlingError',
          Message: 'Throughput exceeds the current capacity for one or more partitions (emulated).',
        }
      : { Code: 'None' },
  );
  answer(res, {
    __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
    message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((reason) => reason.Code).join(', ')}]`,
    CancellationReasons: reasons,
  });
}
