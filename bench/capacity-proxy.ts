import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';

/** One DynamoDB request as the proxy saw it. */
export interface RecordedRequest {
  /** What the benchmark was doing when the request went by. */
  label: string;
  /** `UpdateItem`, `TransactWriteItems`, ... (X-Amz-Target after the dot). */
  operation: string;
  /** The tables the request names. */
  tables: string[];
  status: number;
  /** Capacity units per table, as DynamoDB (here: the local engine) reported them. */
  consumed: { table: string; units: number }[];
  /** An UpdateItem's UpdateExpression: which of a table's writers sent it. */
  updateExpression?: string | undefined;
}

/** Operations that accept ReturnConsumedCapacity. */
const METERED = new Set([
  'GetItem',
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'Query',
  'Scan',
  'BatchGetItem',
  'BatchWriteItem',
  'TransactGetItems',
  'TransactWriteItems',
]);

export const WRITE_OPERATIONS = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'BatchWriteItem',
  'TransactWriteItems',
]);

/**
 * An HTTP proxy between the code under test and the local engine that asks for
 * `ReturnConsumedCapacity: TOTAL` on every metered request and writes down what came back. Sitting on
 * the wire, it sees every request the handlers make, however they build their clients, and adds
 * nothing to the handlers' own answers that they did not already ignore.
 *
 * Changing the body invalidates the request's SigV4 signature; the local engine does not check
 * signatures, and nothing here ever goes to AWS.
 */
export class CapacityProxy {
  readonly requests: RecordedRequest[] = [];
  label = 'unlabelled';
  url = '';
  private server: Server | undefined;

  constructor(private readonly target: string) {}

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      this.forward(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(String(error));
      });
    });
    this.server = server;
    this.url = await listenOnLoopback(server);
    return this;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }

  /** The requests recorded under `label`. */
  recorded(label: string): RecordedRequest[] {
    return this.requests.filter((entry) => entry.label === label);
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const label = this.label;
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
    let body = await readAll(req);
    let tables: string[] = [];
    let updateExpression: string | undefined;
    if (METERED.has(operation)) {
      const input = parseObject(body);
      if (input !== undefined) {
        tables = tablesOf(input);
        if (typeof input.UpdateExpression === 'string') updateExpression = input.UpdateExpression;
        // INDEXES already includes the total; anything else becomes TOTAL.
        if (input.ReturnConsumedCapacity !== 'INDEXES') input.ReturnConsumedCapacity = 'TOTAL';
        body = Buffer.from(JSON.stringify(input));
      }
    }
    const upstream = new URL(this.target);
    const headers = { ...req.headers, 'content-length': String(body.length) };
    const answer = await new Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }>(
      (resolve, reject) => {
        const forwarded = request(
          {
            hostname: upstream.hostname,
            port: upstream.port,
            method: req.method,
            path: req.url,
            headers,
          },
          (response) => {
            readAll(response).then(
              (payload) =>
                resolve({ status: response.statusCode ?? 0, headers: response.headers, body: payload }),
              reject,
            );
          },
        );
        forwarded.once('error', reject);
        forwarded.end(body);
      },
    );
    if (METERED.has(operation)) {
      const output = answer.headers['content-encoding'] === undefined ? parseObject(answer.body) : undefined;
      this.requests.push({
        label,
        operation,
        tables,
        status: answer.status,
        consumed: consumedOf(output?.ConsumedCapacity),
        ...(updateExpression === undefined ? {} : { updateExpression }),
      });
    }
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body);
  }
}

/** A request or response body, whole. */
/** Listens on a free loopback port; answers the proxy's URL. */
export async function listenOnLoopback(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
}

/** Closes the server and every connection to it, kept-alive ones included. */
export async function closeServer(server: Server | undefined): Promise<void> {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
}

export async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks);
}

/** A JSON object body, or undefined for anything else. */
export function parseObject(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** TableName, or the tables of RequestItems (batches) and TransactItems (transactions). */
export function tablesOf(input: Record<string, unknown>): string[] {
  const tables = new Set<string>();
  if (typeof input.TableName === 'string') tables.add(input.TableName);
  if (isObject(input.RequestItems)) for (const name of Object.keys(input.RequestItems)) tables.add(name);
  if (Array.isArray(input.TransactItems)) {
    for (const item of input.TransactItems) {
      if (!isObject(item)) continue;
      for (const action of Object.values(item)) {
        if (isObject(action) && typeof action.TableName === 'string') tables.add(action.TableName);
      }
    }
  }
  return [...tables];
}

/** ConsumedCapacity is one object for single-item operations and a list for batches and transactions. */
export function consumedOf(value: unknown): { table: string; units: number }[] {
  const entries = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return entries.flatMap((entry) =>
    isObject(entry) && typeof entry.TableName === 'string' && typeof entry.CapacityUnits === 'number'
      ? [{ table: entry.TableName, units: entry.CapacityUnits }]
      : [],
  );
}
