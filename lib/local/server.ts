import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  COUNTERS_TABLE,
  HISTORY_TABLE,
  IDEMPOTENCY_TABLE,
  ROLLUPS_TABLE,
} from '../../functions/counter/table.ts';
import { MAX_BODY_BYTES } from '../../functions/http/json-body.ts';
import { PayloadTooLargeError } from '../../functions/http/problems.ts';
import { validateCorsOrigins } from '../cors.ts';
import { HISTORY_CONSUMER } from '../routes.ts';
import { HISTORY_STREAM } from '../stream-settings.ts';
import { lambdaContext } from './api-event.ts';
import { type Engine, startEngine } from './engine.ts';
import { EventsFilePublisher } from './events-file.ts';
import { type Gateway, handle } from './gateway.ts';
import { loadConsumer, loadRoutes } from './handlers.ts';
import { send } from './http-io.ts';
import { loadPrincipals } from './principals.ts';
import { type PollerSettings, StreamPoller } from './stream-poller.ts';
import { localTableNames } from './table-names.ts';
import { ensureTable } from './tables.ts';

export interface LocalServiceOptions {
  port?: number;
  host?: string;
  /** Dynoxide's data file; a temporary one when undefined. Ignored when `dynamodbEndpoint` is set. */
  dbPath?: string | undefined;
  /** Another engine (DynamoDB Local, or a real endpoint) instead of starting Dynoxide. */
  dynamodbEndpoint?: string | undefined;
  /** Table names are `<prefix>-counters`, `-history`, `-idempotency` and `-local-checkpoints`. */
  tablePrefix?: string;
  deadLetterFile?: string;
  /** Overrides of the stack's event source settings, for tests that need quick retries. */
  stream?: Partial<PollerSettings> & { idleMs?: number; retryBaseMs?: number };
  log?: (message: string, details?: Record<string, unknown>) => void;
  /** Browser origins allowed by CORS, as the stack's `corsAllowOrigins`; none (no CORS) by default. */
  corsAllowOrigins?: string[] | undefined;
  /**
   * How long a connection may sit idle (before its first request, or between requests) before the
   * server closes it. @default 60_000 (IDLE_TIMEOUT_MS)
   */
  idleTimeoutMs?: number | undefined;
  /**
   * The change events the consumer would publish, as JSON Lines in this file (events-file.ts), as the
   * stack's `changeEvents` would to EventBridge; undefined publishes none.
   */
  eventsFile?: string | undefined;
}

export interface LocalService {
  url: string;
  engineEndpoint: string;
  tables: { counters: string; history: string; idempotency: string; rollups: string; checkpoints: string };
  region: string;
  deadLetterFile: string;
  stop(): Promise<void>;
}

type Log = (message: string, details?: Record<string, unknown>) => void;
type Tables = LocalService['tables'];

/**
 * API Gateway closes idle connections but documents no figure for HTTP APIs; a minute is the common
 * load-balancer default, and long enough that a client's pool rarely races a close.
 */
export const IDLE_TIMEOUT_MS = 60_000;

/** How often stream records past AWS's 24 hours, and handled, are deleted from the engine's file. */
const STREAM_TRIM_INTERVAL_MS = 5 * 60_000;

/**
 * The API as API Gateway and Lambda would serve it, on this machine: the route table's handlers
 * behind SigV4 checking, the tables the stack declares in a local engine, and the stream consumer
 * fed by a poller that behaves like the event source mapping.
 *
 * The handlers read their configuration from the environment at import, as on Lambda, so one process
 * hosts one service.
 */
export async function startLocalService(options: LocalServiceOptions = {}): Promise<LocalService> {
  const region = process.env.AWS_REGION ?? 'us-east-1';
  const tables = localTableNames(options.tablePrefix);
  const log = options.log ?? (() => undefined);
  const deadLetterFile = options.deadLetterFile ?? join('.local', 'dead-letters.jsonl');
  // Before the engine starts, so a bad LOCAL_PRINCIPALS file or CORS origin costs nothing to refuse.
  const access = {
    principals: loadPrincipals(process.env),
    corsOrigins: new Set(validateCorsOrigins(options.corsAllowOrigins ?? [])),
  };

  const engine = await startEngine({ endpoint: options.dynamodbEndpoint, dbPath: options.dbPath, log });
  configureHandlers(region, engine.endpoint, tables);
  const db = new DynamoDBClient({ endpoint: engine.endpoint, region });
  const streams = new DynamoDBStreamsClient({ endpoint: engine.endpoint, region });
  let poller: StreamPoller | undefined;
  let server: Server | undefined;
  let trimming: NodeJS.Timeout | undefined;
  try {
    const streamArn = await createTables(db, tables);
    const gateway = await openGateway(region, access, log);
    poller = await startPoller({ db, streams, streamArn, tables, region, deadLetterFile, options, log });
    trimming = trimStreamRegularly(engine, tables.counters, poller, log);
    server = createServer((req, res) => {
      handle(req, res, gateway).catch((error: unknown) => {
        log('local server failed a request', { error: String(error) });
        if (!res.headersSent) send(res, 500, { message: 'Internal Server Error' });
        else res.end();
      });
    });
    const url = await listen(server, options);
    const stop = stopper({ server, trimming, poller, db, streams, engine });
    return { url, engineEndpoint: engine.endpoint, tables, region, deadLetterFile, stop };
  } catch (error) {
    clearInterval(trimming);
    server?.close();
    await poller?.stop();
    await engine.stop();
    throw error;
  }
}

/** The handlers' configuration, read by them at import exactly as Lambda's environment would be. */
function configureHandlers(region: string, endpoint: string, tables: Tables): void {
  Object.assign(process.env, {
    AWS_REGION: region,
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'local',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'local',
    DYNAMODB_ENDPOINT: endpoint,
    COUNTERS_TABLE: tables.counters,
    HISTORY_TABLE: tables.history,
    IDEMPOTENCY_TABLE: tables.idempotency,
    ROLLUPS_TABLE: tables.rollups,
  });
}

/** The stack's tables, and the poller's checkpoints; resolves with the counters' stream. */
async function createTables(db: DynamoDBClient, tables: Tables): Promise<string> {
  const { streamArn } = await ensureTable(db, tables.counters, COUNTERS_TABLE);
  await ensureTable(db, tables.history, HISTORY_TABLE);
  await ensureTable(db, tables.idempotency, IDEMPOTENCY_TABLE);
  await ensureTable(db, tables.rollups, ROLLUPS_TABLE);
  await ensureTable(db, tables.checkpoints, { partitionKey: { name: 'id', type: 'S' }, indexes: [] });
  if (streamArn === undefined) throw new Error(`table ${tables.counters} has no stream`);
  return streamArn;
}

/** The routes' handlers behind the gateway's checks; imported after the environment is set. */
async function openGateway(
  region: string,
  access: Pick<Gateway, 'principals' | 'corsOrigins'>,
  log: Log,
): Promise<Gateway> {
  const routes = await loadRoutes();
  // After the environment is set: the module's logger reads its level once, as on Lambda.
  const { problemResponse } = await import('../../functions/http/problems.ts');
  const tooLarge = problemResponse(new PayloadTooLargeError(MAX_BODY_BYTES));
  return { routes, ...access, region, log, tooLarge };
}

/** The stream consumer, fed as the event source mapping would feed it. */
async function startPoller(setup: {
  db: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  streamArn: string;
  tables: Tables;
  region: string;
  deadLetterFile: string;
  options: LocalServiceOptions;
  log: Log;
}): Promise<StreamPoller> {
  const { options } = setup;
  const consumer = await loadConsumer(
    options.eventsFile === undefined ? undefined : new EventsFilePublisher(options.eventsFile),
  );
  const poller = new StreamPoller({
    streams: setup.streams,
    checkpoints: { client: DynamoDBDocumentClient.from(setup.db), table: setup.tables.checkpoints },
    streamArn: setup.streamArn,
    consumer: HISTORY_CONSUMER.id,
    handler: (event) => consumer(event, lambdaContext(HISTORY_CONSUMER.id, randomUUID())),
    settings: { ...HISTORY_STREAM, ...options.stream },
    deadLetterFile: setup.deadLetterFile,
    region: setup.region,
    idleMs: options.stream?.idleMs,
    retryBaseMs: options.stream?.retryBaseMs,
    log: setup.log,
  });
  poller.start();
  return poller;
}

/** Every STREAM_TRIM_INTERVAL_MS, deletes what AWS would no longer keep of the counters' stream. */
function trimStreamRegularly(engine: Engine, table: string, poller: StreamPoller, log: Log): NodeJS.Timeout {
  const trimming = setInterval(() => void trimStream(engine, table, poller, log), STREAM_TRIM_INTERVAL_MS);
  trimming.unref();
  return trimming;
}

/** Deletes what AWS would no longer keep of the counters' stream (see stream-storage.ts). */
async function trimStream(engine: Engine, table: string, poller: StreamPoller, log: Log): Promise<void> {
  const storage = engine.streamStorage;
  if (storage === undefined) return;
  for (const [shardId, handledThrough] of poller.handledThrough()) {
    try {
      const removed = await storage.trim(table, shardId, handledThrough);
      if (removed > 0) log('stream records older than 24 hours removed', { shardId, removed });
    } catch (error) {
      // Most likely the file was busy for longer than the wait: the next round takes them.
      log('stream records could not be trimmed; trying again later', { error: String(error) });
    }
  }
}

/** Listens on the port and host asked for; resolves with the URL. */
async function listen(server: Server, options: LocalServiceOptions): Promise<string> {
  // Node.js closes a connection idle after an answer (keepAliveTimeout) but never one that has not
  // sent a request yet; the socket timeout covers both. A request still in flight that long is cut
  // too, which API Gateway would have answered with a timeout at 30 s.
  const idleTimeoutMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  server.timeout = idleTimeoutMs;
  server.keepAliveTimeout = idleTimeoutMs;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 3000, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  return `http://${host}:${port}`;
}

/** Stops everything once, however often it is called: requests, the poller, the clients, the engine. */
function stopper(parts: {
  server: Server;
  trimming: NodeJS.Timeout;
  poller: StreamPoller;
  db: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  engine: Engine;
}): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= (async () => {
      clearInterval(parts.trimming);
      await new Promise<void>((resolve) => {
        parts.server.close(() => resolve());
        parts.server.closeIdleConnections();
      });
      await parts.poller.stop();
      parts.db.destroy();
      parts.streams.destroy();
      await parts.engine.stop();
    })();
    return stopping;
  };
}
