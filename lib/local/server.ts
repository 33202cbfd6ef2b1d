import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type {
  APIGatewayProxyEventV2WithIAMAuthorizer,
  APIGatewayProxyStructuredResultV2,
  Context,
  DynamoDBBatchResponse,
  DynamoDBStreamEvent,
} from 'aws-lambda';
import type { ChangePublisher } from '../../functions/counter/change-events.ts';
import {
  COUNTERS_TABLE,
  HISTORY_TABLE,
  IDEMPOTENCY_TABLE,
  ROLLUPS_TABLE,
} from '../../functions/counter/table.ts';
import { MAX_BODY_BYTES } from '../../functions/http/json-body.ts';
import { PayloadTooLargeError } from '../../functions/http/problems.ts';
import { matchesPattern } from '../access.ts';
import { validateCorsOrigins } from '../cors.ts';
import { REPO_ROOT } from '../repo-root.ts';
import { HISTORY_CONSUMER, ROUTES, type RouteSpec } from '../routes.ts';
import { HISTORY_STREAM } from '../stream-settings.ts';
import { lambdaContext, toApiGatewayEvent } from './api-event.ts';
import { applyCors } from './cors.ts';
import { startEngine } from './engine.ts';
import { EventsFilePublisher } from './events-file.ts';
import { type LocalPrincipal, loadPrincipals } from './principals.ts';
import { type RawRequest, safeDecode, verifySigV4 } from './sigv4.ts';
import { type PollerSettings, StreamPoller } from './stream-poller.ts';
import type { StreamStorage } from './stream-storage.ts';
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

type HttpHandler = (event: APIGatewayProxyEventV2WithIAMAuthorizer, context: Context) => Promise<unknown>;
type StreamHandler = (event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse>;

const MAX_API_GATEWAY_BODY = 10 * 1024 * 1024;

/**
 * API Gateway closes idle connections but documents no figure for HTTP APIs; a minute is the common
 * load-balancer default, and long enough that a client's pool rarely races a close.
 */
export const IDLE_TIMEOUT_MS = 60_000;

/** How often stream records past AWS's 24 hours, and handled, are deleted from the engine's file. */
const STREAM_TRIM_INTERVAL_MS = 5 * 60_000;

/** How long the rest of a refused body is read and dropped before its connection is cut. */
const LINGER_MS = 2_000;

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
  const prefix = options.tablePrefix ?? 'counter-service';
  const tables = {
    counters: `${prefix}-counters`,
    history: `${prefix}-history`,
    idempotency: `${prefix}-idempotency`,
    rollups: `${prefix}-rollups`,
    checkpoints: `${prefix}-local-checkpoints`,
  };
  const log = options.log ?? (() => undefined);
  const deadLetterFile = options.deadLetterFile ?? join('.local', 'dead-letters.jsonl');
  const principals = loadPrincipals(process.env);
  const corsOrigins = new Set(validateCorsOrigins(options.corsAllowOrigins ?? []));

  const engine = await startEngine({ endpoint: options.dynamodbEndpoint, dbPath: options.dbPath, log });
  // The handlers' configuration, read by them at import exactly as Lambda's environment would be.
  Object.assign(process.env, {
    AWS_REGION: region,
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'local',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'local',
    DYNAMODB_ENDPOINT: engine.endpoint,
    COUNTERS_TABLE: tables.counters,
    HISTORY_TABLE: tables.history,
    IDEMPOTENCY_TABLE: tables.idempotency,
    ROLLUPS_TABLE: tables.rollups,
  });

  const db = new DynamoDBClient({ endpoint: engine.endpoint, region });
  const streams = new DynamoDBStreamsClient({ endpoint: engine.endpoint, region });
  let poller: StreamPoller | undefined;
  let server: Server | undefined;
  let trimming: NodeJS.Timeout | undefined;
  try {
    const { streamArn } = await ensureTable(db, tables.counters, COUNTERS_TABLE);
    await ensureTable(db, tables.history, HISTORY_TABLE);
    await ensureTable(db, tables.idempotency, IDEMPOTENCY_TABLE);
    await ensureTable(db, tables.rollups, ROLLUPS_TABLE);
    await ensureTable(db, tables.checkpoints, { partitionKey: { name: 'id', type: 'S' }, indexes: [] });
    if (streamArn === undefined) throw new Error(`table ${tables.counters} has no stream`);

    const handlers = await loadHttpHandlers();
    // After the environment is set: the module's logger reads its level once, as on Lambda.
    const { problemResponse } = await import('../../functions/http/problems.ts');
    const tooLarge = problemResponse(new PayloadTooLargeError(MAX_BODY_BYTES));
    const consumer =
      options.eventsFile === undefined
        ? await importHandler<StreamHandler>(HISTORY_CONSUMER.entry)
        : await importConsumerPublishingTo(new EventsFilePublisher(options.eventsFile));
    poller = new StreamPoller({
      streams,
      checkpoints: { client: DynamoDBDocumentClient.from(db), table: tables.checkpoints },
      streamArn,
      consumer: HISTORY_CONSUMER.id,
      handler: (event) => consumer(event, lambdaContext(HISTORY_CONSUMER.id, randomUUID())),
      settings: { ...HISTORY_STREAM, ...options.stream },
      deadLetterFile,
      region,
      idleMs: options.stream?.idleMs,
      retryBaseMs: options.stream?.retryBaseMs,
      log,
    });
    poller.start();
    trimming = setInterval(() => {
      if (poller !== undefined) void trimStream(engine.streamStorage, tables.counters, poller, log);
    }, STREAM_TRIM_INTERVAL_MS);
    trimming.unref();

    const listener = createServer((req, res) => {
      handle(req, res, { handlers, principals, region, log, corsOrigins, tooLarge }).catch(
        (error: unknown) => {
          log('local server failed a request', { error: String(error) });
          if (!res.headersSent) send(res, 500, { message: 'Internal Server Error' });
          else res.end();
        },
      );
    });
    server = listener;
    // Node.js closes a connection idle after an answer (keepAliveTimeout) but never one that has not
    // sent a request yet; the socket timeout covers both. A request still in flight that long is cut
    // too, which API Gateway would have answered with a timeout at 30 s.
    const idleTimeoutMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    listener.timeout = idleTimeoutMs;
    listener.keepAliveTimeout = idleTimeoutMs;
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(options.port ?? 3000, options.host ?? '127.0.0.1', () => resolve());
    });
    const address = listener.address();
    const port = typeof address === 'object' && address !== null ? address.port : options.port;
    const url = `http://${options.host ?? '127.0.0.1'}:${port}`;

    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= (async () => {
        clearInterval(trimming);
        await new Promise<void>((resolve) => {
          listener.close(() => resolve());
          listener.closeIdleConnections();
        });
        await poller?.stop();
        db.destroy();
        streams.destroy();
        await engine.stop();
      })();
      return stopping;
    };
    return { url, engineEndpoint: engine.endpoint, tables, region, deadLetterFile, stop };
  } catch (error) {
    clearInterval(trimming);
    server?.close();
    await poller?.stop();
    await engine.stop();
    throw error;
  }
}

/** Deletes what AWS would no longer keep of the counters' stream (see stream-storage.ts). */
async function trimStream(
  storage: StreamStorage | undefined,
  table: string,
  poller: StreamPoller,
  log: (message: string, details?: Record<string, unknown>) => void,
): Promise<void> {
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

interface Compiled {
  route: RouteSpec;
  pattern: RegExp;
  parameters: string[];
  handler: HttpHandler;
}

async function loadHttpHandlers(): Promise<Compiled[]> {
  const byEntry = new Map<string, HttpHandler>();
  const compiled: Compiled[] = [];
  for (const route of ROUTES) {
    let handler = byEntry.get(route.function.entry);
    if (handler === undefined) {
      handler = await importHandler<HttpHandler>(route.function.entry);
      byEntry.set(route.function.entry, handler);
    }
    const parameters: string[] = [];
    const source = route.path.replace(/\{([a-zA-Z]+)\}/g, (_, name: string) => {
      parameters.push(name);
      return '([^/]+)';
    });
    compiled.push({ route, pattern: new RegExp(`^${source}$`), parameters, handler });
  }
  return compiled;
}

/** The stream consumer, with its change events going to `publisher` (functions/stream/record-history.ts `consumer`). */
async function importConsumerPublishingTo(publisher: ChangePublisher): Promise<StreamHandler> {
  const module: { consumer?: (publisher: ChangePublisher) => StreamHandler } = await import(
    pathToFileURL(join(REPO_ROOT, HISTORY_CONSUMER.entry)).href
  );
  if (module.consumer === undefined) throw new Error(`${HISTORY_CONSUMER.entry} exports no consumer`);
  return module.consumer(publisher);
}

async function importHandler<T>(entry: string): Promise<T> {
  const module: { handler?: T } = await import(pathToFileURL(join(REPO_ROOT, entry)).href);
  if (module.handler === undefined) throw new Error(`${entry} exports no handler`);
  return module.handler;
}

interface Context_ {
  handlers: Compiled[];
  principals: ReadonlyMap<string, LocalPrincipal>;
  region: string;
  log: (message: string, details?: Record<string, unknown>) => void;
  corsOrigins: ReadonlySet<string>;
  /** The handlers' own 413 (functions/http/json-body.ts), answered here before a body is read. */
  tooLarge: APIGatewayProxyStructuredResultV2;
}

async function handle(req: IncomingMessage, res: ServerResponse, ctx: Context_): Promise<void> {
  const method = req.method ?? 'GET';
  const target = req.url ?? '/';
  const queryAt = target.indexOf('?');
  const rawPath = queryAt === -1 ? target : target.slice(0, queryAt);
  const rawQueryString = queryAt === -1 ? '' : target.slice(queryAt + 1);

  // Before anything else, the signature check included: a body over the handlers' limit is refused
  // on its declared length, never kept, so an unsigned caller cannot make the server hold megabytes.
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_API_GATEWAY_BODY) return refuseBody(req, res, gatewayTooLarge());
  if (declared > MAX_BODY_BYTES) return refuseBody(req, res, ctx.tooLarge);

  // Before the signature check: API Gateway answers preflights, which browsers never sign, itself.
  if (applyCors(req, res, ctx.corsOrigins)) return;

  // Local conveniences, unsigned (docs/api.md sections 1 and 6).
  if (method === 'GET' && rawPath === '/health') return send(res, 200, { status: 'ok' });
  if (method === 'GET' && rawPath === '/openapi.json') {
    const document = await readFile(join(REPO_ROOT, 'openapi.json'));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': document.length });
    res.end(document);
    return;
  }

  // A chunked body has no declared length: reading stops as soon as it passes the limit.
  const body = await readBody(req, MAX_BODY_BYTES);
  if (body === undefined) return refuseBody(req, res, ctx.tooLarge);

  let matched: { compiled: Compiled; pathParameters?: Record<string, string> } | undefined;
  for (const compiled of ctx.handlers) {
    if (compiled.route.method !== method) continue;
    const match = compiled.pattern.exec(rawPath);
    if (match === null) continue;
    const pathParameters: Record<string, string> = {};
    compiled.parameters.forEach((name, index) => {
      pathParameters[name] = safeDecode(match[index + 1] ?? '');
    });
    matched = { compiled, ...(compiled.parameters.length > 0 ? { pathParameters } : {}) };
    break;
  }
  if (matched === undefined) return send(res, 404, { message: 'Not Found' });

  const headers = flattenHeaders(req);
  const request: RawRequest = { method, rawPath, rawQueryString, headers, body };
  const verification = await verifySigV4(request, ctx.principals, ctx.region);
  const allowed =
    verification.ok &&
    verification.principal.allow.some((pattern) => matchesPattern(pattern, `${method}${rawPath}`));
  if (!verification.ok || !allowed) {
    ctx.log('request refused', {
      method,
      path: rawPath,
      reason: verification.ok ? `not allowed for ${verification.principal.arn}` : verification.reason,
    });
    return send(res, 403, { message: 'Forbidden' });
  }

  const { route, handler } = matched.compiled;
  const routeKey = `${route.method} ${route.path}`;
  const event = toApiGatewayEvent(
    request,
    routeKey,
    matched.pathParameters,
    verification.principal,
    req.socket.remoteAddress ?? '127.0.0.1',
  );
  let result: unknown;
  try {
    result = await handler(event, lambdaContext(route.function.id, event.requestContext.requestId));
  } catch (error) {
    ctx.log('handler threw', { routeKey, error: String(error) });
    return send(res, 500, { message: 'Internal Server Error' }, event.requestContext.requestId);
  }
  writeResult(res, result, event.requestContext.requestId);
}

/** As API Gateway maps a payload-2.0 result: a structured result as is, anything else as JSON 200. */
function writeResult(res: ServerResponse, result: unknown, requestId: string): void {
  if (!isStructured(result)) {
    send(res, 200, result, requestId);
    return;
  }
  const body =
    result.body === undefined
      ? Buffer.alloc(0)
      : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  const headers: Record<string, string | number | string[]> = { 'apigw-requestid': requestId };
  for (const [name, value] of Object.entries(result.headers ?? {}))
    headers[name.toLowerCase()] = String(value);
  if (result.cookies !== undefined && result.cookies.length > 0) headers['set-cookie'] = result.cookies;
  if (result.statusCode !== 204 && result.statusCode !== 304) headers['content-length'] = body.length;
  res.writeHead(result.statusCode ?? 200, headers);
  res.end(result.statusCode === 204 ? undefined : body);
}

function isStructured(result: unknown): result is APIGatewayProxyStructuredResultV2 {
  return typeof result === 'object' && result !== null && 'statusCode' in result;
}

function send(res: ServerResponse, status: number, body: unknown, requestId?: string): void {
  const text = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': text.length,
    ...(requestId === undefined ? {} : { 'apigw-requestid': requestId }),
  });
  res.end(text);
}

/** API Gateway's own answer to a body over its 10 MiB, before any function runs. */
function gatewayTooLarge(): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: 413,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message: 'Request Entity Too Large' }),
  };
}

/**
 * Answers 413 at once, before the rest of the body. What the client still sends is read and dropped,
 * never kept: a client that writes its whole body before it reads (most do) then gets the answer
 * rather than a reset. A body still arriving after LINGER_MS has its connection cut.
 */
function refuseBody(
  req: IncomingMessage,
  res: ServerResponse,
  result: APIGatewayProxyStructuredResultV2,
): void {
  req.on('data', () => undefined);
  req.resume();
  if (!req.complete) {
    const cut = setTimeout(() => req.socket.destroy(), LINGER_MS);
    const keep = () => clearTimeout(cut);
    req.once('end', keep);
    req.once('close', keep);
  }
  writeResult(res, result, randomUUID());
}

/**
 * The body, or undefined as soon as it passes `limit`, when reading pauses. (Leaving a `for await`
 * early would destroy the socket before the 413 could be sent.)
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        settle();
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      settle();
      resolve(Buffer.concat(chunks));
    };
    const onError = (error: Error) => {
      settle();
      reject(error);
    };
    const onClose = () => {
      settle();
      reject(new Error('the client closed the connection before the body ended'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}
