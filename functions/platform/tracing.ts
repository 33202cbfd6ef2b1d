import { randomBytes } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type {
  BuildHandler,
  BuildHandlerArguments,
  BuildHandlerOutput,
  BuildMiddleware,
  HandlerExecutionContext,
  MetadataBearer,
  Provider,
} from '@smithy/types';
import { isThrottling } from './aws-errors.ts';
import { TRACING_VARIABLE } from './tracing-switch.ts';

/** Where the subsegment documents go: the X-Ray daemon's UDP port (sent as one datagram each). */
export type SubsegmentSender = (datagram: Buffer) => Promise<void>;

/** The X-Ray daemon protocol: a header line, then one segment document. */
const DAEMON_HEADER = '{"format":"json","version":1}\n';

/** What X-Ray records of one DynamoDB call (the fields X-Ray's console reads for an AWS call). */
export interface DynamoDbSubsegment {
  name: 'DynamoDB';
  id: string;
  trace_id: string;
  parent_id: string;
  type: 'subsegment';
  namespace: 'aws';
  start_time: number;
  end_time: number;
  aws: {
    operation: string;
    region: string;
    request_id?: string;
    retries: number;
    table_name?: string;
    table_names?: string[];
  };
  http?: { response: { status: number } };
  error?: true;
  throttle?: true;
  fault?: true;
  cause?: { exceptions: { id: string; message: string; type: string; remote: true }[] };
}

/**
 * Records every call the client makes as an X-Ray subsegment named `DynamoDB`, when the function is
 * traced (TRACING_VARIABLE set); otherwise adds nothing, so an untraced function pays nothing per
 * call and loads no socket module. Never fails a call: a subsegment that cannot be built or sent is
 * dropped.
 */
export function traceDynamoDbCalls(
  client: DynamoDBClient,
  environment: Readonly<Record<string, string | undefined>> = process.env,
  send?: SubsegmentSender,
): void {
  if ((environment[TRACING_VARIABLE] ?? '') === '') return;
  const sender = send ?? udpSender(daemonAddress(environment.AWS_XRAY_DAEMON_ADDRESS));
  client.middlewareStack.add(subsegmentMiddleware(client.config.region, sender), {
    // Build: outside the retry loop, so a call and its retries are one subsegment, as X-Ray's SDK does.
    step: 'build',
    name: 'counterXRaySubsegment',
    override: true,
  });
}

/** `Root=1-...;Parent=...;Sampled=1` -> the trace and parent ids, or undefined when not sampled. */
export function sampledTrace(header: string | undefined): { traceId: string; parentId: string } | undefined {
  if (header === undefined) return undefined;
  const fields = new Map(
    header.split(';').flatMap((pair) => {
      const at = pair.indexOf('=');
      return at === -1 ? [] : [[pair.slice(0, at).trim(), pair.slice(at + 1).trim()] as const];
    }),
  );
  const traceId = fields.get('Root') ?? '';
  const parentId = fields.get('Parent') ?? '';
  if (fields.get('Sampled') !== '1') return undefined;
  if (!/^1-[0-9a-f]{8}-[0-9a-f]{24}$/.test(traceId) || !/^[0-9a-f]{16}$/.test(parentId)) return undefined;
  return { traceId, parentId };
}

/**
 * `AWS_XRAY_DAEMON_ADDRESS` is `host:port` or `udp:host:port tcp:host:port` (Lambda sets the former);
 * X-Ray's default is 127.0.0.1:2000.
 */
export function daemonAddress(value: string | undefined): { host: string; port: number } {
  const udp = (value ?? '').split(' ').find((part) => !part.startsWith('tcp:')) ?? '';
  const match = /^(?:udp:)?([^:\s]+):(\d{1,5})$/.exec(udp);
  const port = Number(match?.[2]);
  if (match?.[1] === undefined || !(port > 0 && port < 65536)) return { host: '127.0.0.1', port: 2000 };
  return { host: match[1], port };
}

function subsegmentMiddleware(
  region: Provider<string>,
  send: SubsegmentSender,
): BuildMiddleware<object, MetadataBearer> {
  return (next: BuildHandler<object, MetadataBearer>, context: HandlerExecutionContext) =>
    async (args: BuildHandlerArguments<object>): Promise<BuildHandlerOutput<MetadataBearer>> => {
      // Lambda sets the trace header per invocation, so it is read per call, not at cold start.
      const trace = sampledTrace(process.env._X_AMZN_TRACE_ID);
      if (trace === undefined) return next(args);
      const startTime = Date.now() / 1000;
      const call = { ...trace, startTime, commandName: context.commandName, input: args.input, region, send };
      try {
        const result = await next(args);
        await record(call, result.output.$metadata, undefined);
        return result;
      } catch (error) {
        await record(call, metadataOf(error), error);
        throw error;
      }
    };
}

interface Call {
  traceId: string;
  parentId: string;
  startTime: number;
  commandName: string | undefined;
  input: unknown;
  region: Provider<string>;
  send: SubsegmentSender;
}

async function record(call: Call, metadata: MetadataBearer['$metadata'] | undefined, error: unknown) {
  try {
    const endTime = Date.now() / 1000;
    const document = subsegmentDocument({ ...call, endTime, region: await call.region(), metadata, error });
    if (document !== undefined) await call.send(Buffer.from(DAEMON_HEADER + JSON.stringify(document)));
  } catch {
    // A trace is never worth a failed request.
  }
}

/** The subsegment of one finished call; exported for the tests. */
export function subsegmentDocument(call: {
  traceId: string;
  parentId: string;
  startTime: number;
  endTime: number;
  commandName: string | undefined;
  input: unknown;
  region: string;
  metadata: MetadataBearer['$metadata'] | undefined;
  error: unknown;
}): DynamoDbSubsegment | undefined {
  const operation = call.commandName?.replace(/Command$/, '');
  if (operation === undefined || operation === '') return undefined;
  const status = call.metadata?.httpStatusCode;
  const tables = tableNames(call.input);
  const document: DynamoDbSubsegment = {
    name: 'DynamoDB',
    id: newId(),
    trace_id: call.traceId,
    parent_id: call.parentId,
    type: 'subsegment',
    namespace: 'aws',
    start_time: call.startTime,
    end_time: call.endTime,
    aws: {
      operation,
      region: call.region,
      ...(call.metadata?.requestId === undefined ? {} : { request_id: call.metadata.requestId }),
      retries: Math.max(0, (call.metadata?.attempts ?? 1) - 1),
      ...(tables.length === 1 ? { table_name: tables[0] } : {}),
      ...(tables.length > 1 ? { table_names: tables } : {}),
    },
    ...(status === undefined ? {} : { http: { response: { status } } }),
  };
  if (call.error === undefined) return document;
  // X-Ray's meaning of the flags: error for a 4xx, throttle (with error) for throttling, fault for a
  // 5xx or no answer at all (a timeout, a reset connection). X-Ray's SDK also sets fault on every 4xx;
  // a failed condition is the caller's case, not DynamoDB's fault.
  const error = call.error;
  const throttled = isThrottling(error);
  if (throttled) document.throttle = true;
  if (throttled || (status !== undefined && status >= 400 && status < 500)) document.error = true;
  else document.fault = true;
  const { name, message } = error instanceof Error ? error : { name: 'Error', message: String(error) };
  document.cause = {
    exceptions: [{ id: newId(), message, type: name, remote: true }],
  };
  return document;
}

/** Random bytes drawn 32 ids at a time: one draw per id was the largest part of a subsegment's CPU. */
let idPool = Buffer.alloc(0);
let idOffset = 0;

/** A 64-bit X-Ray id in 16 hex digits. */
function newId(): string {
  if (idOffset + 8 > idPool.length) {
    idPool = randomBytes(256);
    idOffset = 0;
  }
  idOffset += 8;
  return idPool.toString('hex', idOffset - 8, idOffset);
}

/** The table or tables a DynamoDB request names, sorted (batches and transactions may name several). */
export function tableNames(input: unknown): string[] {
  if (typeof input !== 'object' || input === null) return [];
  const names = new Set<string>();
  if ('TableName' in input && typeof input.TableName === 'string') names.add(input.TableName);
  if ('RequestItems' in input && typeof input.RequestItems === 'object' && input.RequestItems !== null) {
    for (const name of Object.keys(input.RequestItems)) names.add(name);
  }
  if ('TransactItems' in input && Array.isArray(input.TransactItems)) {
    for (const item of input.TransactItems) {
      if (typeof item !== 'object' || item === null) continue;
      // Each transaction item holds one action (Put, Update, Delete, ConditionCheck, Get) naming its table.
      for (const action of Object.values(item)) {
        if (typeof action === 'object' && action !== null && 'TableName' in action) {
          if (typeof action.TableName === 'string') names.add(action.TableName);
        }
      }
    }
  }
  return [...names].sort();
}

function metadataOf(error: unknown): MetadataBearer['$metadata'] | undefined {
  if (typeof error !== 'object' || error === null || !('$metadata' in error)) return undefined;
  const metadata = error.$metadata;
  return typeof metadata === 'object' && metadata !== null ? metadata : undefined;
}

/**
 * One datagram per subsegment, over one socket created on the first send (so `node:dgram` is loaded
 * only then) and kept for the execution environment's life: a socket per send cost about 0.3 ms of
 * CPU a call. It is unref'd, so it never holds the process open, and replaced after an error. The
 * send is awaited, so the datagram has left before the invocation ends and Lambda freezes the process.
 */
export function udpSender(address: { host: string; port: number }): SubsegmentSender {
  let socket: import('node:dgram').Socket | undefined;
  const pending = new Set<() => void>();
  const open = () => {
    const created = process
      .getBuiltinModule('node:dgram')
      .createSocket(address.host.includes(':') ? 'udp6' : 'udp4');
    created.unref();
    created.on('error', () => {
      // A socket that failed (to bind, say) drops its queued sends without calling them back: release
      // their callers, whose DynamoDB calls are waiting, and start afresh on the next send.
      if (socket === created) socket = undefined;
      for (const release of pending) release();
      try {
        created.close();
      } catch {
        // Already closed.
      }
    });
    return created;
  };
  return (datagram) =>
    new Promise<void>((resolve) => {
      const release = () => {
        pending.delete(release);
        resolve();
      };
      pending.add(release);
      try {
        socket ??= open();
        socket.send(datagram, address.port, address.host, release);
      } catch {
        release();
      }
    });
}
