import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';

/**
 * What the proxy does to one DynamoDB operation (the `X-Amz-Target` after the dot, e.g. `UpdateItem`):
 * - `throttle`: answers ProvisionedThroughputExceededException without forwarding, as DynamoDB does
 *   when a partition is over its limit;
 * - `drop-response`: forwards the request, lets the engine apply it, then cuts the connection before
 *   the answer arrives, as when a Lambda dies right after its write or the network fails;
 * - `delay`: holds the request a random time up to `delayMs` before forwarding it, as the network's
 *   jitter does, so concurrent requests land in any order.
 */
export interface FaultRule {
  operation: string;
  fault: 'throttle' | 'drop-response' | 'delay';
  /** For `delay`: the longest hold, in milliseconds. */
  delayMs?: number;
  /** Chance per matching request, 0..1. */
  probability?: number;
  /** Stop after this many faults. */
  times?: number;
  /** Only requests to this table (their `TableName`), when other writers share the operation. */
  table?: string;
}

/** An HTTP proxy in front of the local engine that injects faults into chosen operations. */
export class FaultProxy {
  private rules: (FaultRule & { used: number })[] = [];
  readonly injected: Record<string, number> = {};
  private server: Server | undefined;
  url = '';

  /** `target` may be a function, read at each request, for an engine that starts after the proxy is made. */
  constructor(private readonly target: string | (() => string)) {}

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      void this.handle(req, res);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const address = server.address();
    this.url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
    return this;
  }

  /** Sets new rules and forgets what the old ones injected. */
  setRules(rules: FaultRule[]): void {
    this.rules = rules.map((rule) => ({ ...rule, used: 0 }));
  }

  /** Forgets what was injected so far, so each test counts its own faults. */
  forgetInjected(): void {
    for (const key of Object.keys(this.injected)) delete this.injected[key];
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private pick(operation: string, table: string | undefined): FaultRule | undefined {
    for (const rule of this.rules) {
      if (rule.operation !== operation) continue;
      if (rule.table !== undefined && rule.table !== table) continue;
      if (rule.times !== undefined && rule.used >= rule.times) continue;
      if (Math.random() >= (rule.probability ?? 1)) continue;
      rule.used++;
      this.injected[`${rule.fault} ${operation}`] = (this.injected[`${rule.fault} ${operation}`] ?? 0) + 1;
      return rule;
    }
    return undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
    const body = Buffer.concat(chunks);
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
    const rule = this.pick(operation, tableOf(body));
    const fault = rule?.fault;
    if (fault === 'delay') {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * (rule?.delayMs ?? 0)));
    }
    if (fault === 'throttle') {
      const payload = JSON.stringify({
        __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
        message: 'The level of configured provisioned throughput for the table was exceeded (injected).',
      });
      res.writeHead(400, {
        'content-type': 'application/x-amz-json-1.0',
        'content-length': Buffer.byteLength(payload),
      });
      res.end(payload);
      return;
    }
    const upstream = new URL(typeof this.target === 'string' ? this.target : this.target());
    const forwarded = request(
      {
        hostname: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (answer) => {
        if (fault === 'drop-response') {
          // The engine has applied the request; its caller never hears so.
          answer.resume();
          answer.once('end', () => res.socket?.destroy());
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forwarded.once('error', () => res.socket?.destroy());
    forwarded.end(body);
  }
}

/** The request's `TableName`, when its body is a JSON object that names one. */
function tableOf(body: Buffer): string | undefined {
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || !('TableName' in parsed)) return undefined;
    return typeof parsed.TableName === 'string' ? parsed.TableName : undefined;
  } catch {
    return undefined;
  }
}
