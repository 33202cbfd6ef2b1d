import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import type { ServiceDeps } from '../functions/counter/service.ts';
import {
  COUNTERS_TABLE,
  HISTORY_TABLE,
  IDEMPOTENCY_TABLE,
  ROLLUPS_TABLE,
} from '../functions/counter/table.ts';
import { counterService } from '../functions/counter/wiring.ts';
import { documentClient } from '../functions/platform/dynamodb.ts';
import { type Engine, startEngine } from '../lib/local/engine.ts';
import { ensureTable } from '../lib/local/tables.ts';
import { CapacityMeter } from './history-meter.ts';

export interface HistoryBench {
  engine: Engine;
  region: string;
  tables: { counters: string; history: string; rollups: string; idempotency: string; checkpoints: string };
  /** A client outside the meter, for verification reads that are not part of any figure. */
  db: DynamoDBClient;
  /** The stream poller's checkpoints go through this one, also outside the meter. */
  checkpoints: DynamoDBDocumentClient;
  streams: DynamoDBStreamsClient;
  streamArn: string;
  /** The service's own wiring (functions/counter/wiring.ts) over this run's tables. */
  deps: ServiceDeps;
  /** The real stream consumer (functions/stream/record-history.ts), imported after its environment was set. */
  consumer: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>;
  meter: CapacityMeter;
  /** Where the poller's dead-letter file goes (it should stay absent). */
  workDir: string;
  stop(): Promise<void>;
}

const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/**
 * A local engine (a temporary file) with the stack's tables, and the service and consumer wired to it
 * as the local server wires them: through the environment they read at cold start. The environment is
 * this process's own (the benchmark runs alone in it), so nothing is restored afterwards.
 */
export async function startHistoryBench(): Promise<HistoryBench> {
  const engine = await startEngine({});
  const tables = tableNames(`hs-${randomUUID().slice(0, 8)}`);
  setEnvironment(engine.endpoint, tables);
  const db = new DynamoDBClient({ endpoint: engine.endpoint, region: REGION, credentials: CREDENTIALS });
  try {
    return await wireBench(engine, db, tables);
  } catch (error) {
    db.destroy();
    await engine.stop();
    throw error;
  }
}

/** This run's tables, under a prefix of its own. */
function tableNames(prefix: string): HistoryBench['tables'] {
  return {
    counters: `${prefix}-counters`,
    history: `${prefix}-history`,
    rollups: `${prefix}-rollups`,
    idempotency: `${prefix}-idempotency`,
    checkpoints: `${prefix}-checkpoints`,
  };
}

/** What the service and the consumer read at cold start, pointed at the engine and this run's tables. */
function setEnvironment(endpoint: string, tables: HistoryBench['tables']): void {
  Object.assign(process.env, {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    DYNAMODB_ENDPOINT: endpoint,
    COUNTERS_TABLE: tables.counters,
    HISTORY_TABLE: tables.history,
    ROLLUPS_TABLE: tables.rollups,
    // The consumer reads keyed changes' records there (the benchmark makes none, but it needs the name).
    IDEMPOTENCY_TABLE: tables.idempotency,
    // The consumer logs every batch at debug level; the benchmark's own progress is enough.
    POWERTOOLS_LOG_LEVEL: 'WARN',
  });
}

/** The tables created, then the consumer, the service, the meter and the clients over them. */
async function wireBench(
  engine: Engine,
  db: DynamoDBClient,
  tables: HistoryBench['tables'],
): Promise<HistoryBench> {
  const streamArn = await createTables(db, tables);
  // Imported only now: the consumer builds its store from the environment at import, as on Lambda.
  const { handler } = await import('../functions/stream/record-history.ts');
  const meter = meteredClients(tables);
  const deps = counterService();
  const streams = new DynamoDBStreamsClient({
    endpoint: engine.endpoint,
    region: REGION,
    credentials: CREDENTIALS,
  });
  const checkpoints = DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint: engine.endpoint, region: REGION, credentials: CREDENTIALS }),
  );
  return {
    engine,
    region: REGION,
    tables,
    db,
    checkpoints,
    streams,
    streamArn,
    deps,
    consumer: handler,
    meter,
    workDir: await mkdtemp(path.join(tmpdir(), 'history-scale-')),
    stop: async () => {
      streams.destroy();
      checkpoints.destroy();
      db.destroy();
      documentClient('standard').destroy();
      documentClient('throttling-only').destroy();
      await engine.stop();
    },
  };
}

/** The stack's tables and the poller's checkpoints; answers the counters table's stream. */
async function createTables(db: DynamoDBClient, tables: HistoryBench['tables']): Promise<string> {
  await ensureTable(db, tables.counters, COUNTERS_TABLE);
  await ensureTable(db, tables.history, HISTORY_TABLE);
  await ensureTable(db, tables.rollups, ROLLUPS_TABLE);
  await ensureTable(db, tables.idempotency, IDEMPOTENCY_TABLE);
  await ensureTable(db, tables.checkpoints, { partitionKey: { name: 'id', type: 'S' }, indexes: [] });
  const { Table } = await db.send(new DescribeTableCommand({ TableName: tables.counters }));
  const streamArn = Table?.LatestStreamArn;
  if (streamArn === undefined) throw new Error('the counters table has no stream');
  return streamArn;
}

/** The meter, on the module-wide clients the service and the consumer send through (one per retry policy). */
function meteredClients(tables: HistoryBench['tables']): CapacityMeter {
  const meter = new CapacityMeter(
    new Map([
      [tables.counters, 'counters'],
      [tables.history, 'history'],
      [tables.rollups, 'rollups'],
      [tables.idempotency, 'idempotency'],
    ]),
  );
  meter.attach(documentClient('standard').middlewareStack);
  meter.attach(documentClient('throttling-only').middlewareStack);
  return meter;
}
