import { Agent, type IncomingHttpHeaders, request } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../lib/local/node-sha256.ts';
import { type Summary, summarize } from './stats.ts';

/** Never more than this many requests in one phase, whatever the duration: the run stays bounded. */
const MAX_REQUESTS_PER_PHASE = 500_000;

export interface PhaseResult {
  name: string;
  seconds: number;
  requests: number;
  /** Answers other than the expected status (they count in requests, not in the latencies). */
  errors: number;
  requestsPerSecond: number;
  latencyMs: Summary;
  /** How many answers of each status (0: no answer). */
  statuses: Record<string, number>;
}

export interface RawPhase extends PhaseResult {
  latencies: number[];
}

/** One request of a phase: sent by `worker`, the `n`th overall. */
export interface PhaseRequest {
  path: string;
  headers?: Record<string, string>;
}

/** One answer as the client saw it; the body is read only when the status is not one of the phase's `ok`. */
export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  ms: number;
}

/**
 * Signed keep-alive load against the local server: `connections` workers, each sending its next
 * request when the last one is answered, for `seconds`. The requests are signed as a real client
 * signs them (SigV4 for execute-api with the local server's key). Every benchmark that drives the
 * server over HTTP uses it: throughput, keyed increments, and the sharded counters' phases.
 */
export class LoadDriver {
  private readonly agent: Agent;
  private readonly signer: SignatureV4;
  private readonly url: URL;

  constructor(url: string, connections: number) {
    this.url = new URL(url);
    this.agent = new Agent({ keepAlive: true, maxSockets: connections });
    this.signer = new SignatureV4({
      service: 'execute-api',
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      sha256: NodeSha256,
    });
  }

  async phase(options: {
    name: string;
    connections: number;
    seconds: number;
    method: 'GET' | 'POST';
    /** Stop once this many requests are sent, if sooner than `seconds` (at most MAX_REQUESTS_PER_PHASE). */
    maxRequests?: number | undefined;
    request: (worker: number, n: number) => PhaseRequest;
    /** The statuses that count as done (default 200): their latencies are kept, the rest are errors. */
    ok?: readonly number[];
    /** Sees every answer, for what a phase counts beyond statuses and latencies. */
    observe?: (answer: Answer) => void;
  }): Promise<RawPhase> {
    const ok = new Set(options.ok ?? [200]);
    const latencies: number[] = [];
    const statuses: Record<string, number> = {};
    let errors = 0;
    let sent = 0;
    const started = performance.now();
    const deadline = started + options.seconds * 1000;
    const cap = Math.min(options.maxRequests ?? MAX_REQUESTS_PER_PHASE, MAX_REQUESTS_PER_PHASE);
    const worker = async (index: number) => {
      while (performance.now() < deadline && sent < cap) {
        const { path, headers = {} } = options.request(index, sent++);
        const [pathname = path, query = ''] = path.split('?');
        const signed = await this.signer.sign({
          method: options.method,
          protocol: 'http:',
          hostname: this.url.hostname,
          port: Number(this.url.port),
          path: pathname,
          query: Object.fromEntries(new URLSearchParams(query)),
          headers: { host: this.url.host, ...headers },
        });
        const begun = performance.now();
        const answer = await this.send(options.method, path, signed.headers, ok);
        const ms = performance.now() - begun;
        statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
        if (ok.has(answer.status)) latencies.push(ms);
        else errors++;
        options.observe?.({ ...answer, ms });
      }
    };
    await Promise.all(Array.from({ length: options.connections }, (_, i) => worker(i)));
    const seconds = (performance.now() - started) / 1000;
    const requests = latencies.length + errors;
    return {
      name: options.name,
      seconds,
      requests,
      errors,
      requestsPerSecond: requests / seconds,
      latencyMs: summarize(latencies),
      statuses,
      latencies,
    };
  }

  close(): void {
    this.agent.destroy();
  }

  /** Status 0: no answer. Only refusals' bodies are read: they say why. */
  private send(
    method: string,
    path: string,
    headers: Record<string, string>,
    ok: ReadonlySet<number>,
  ): Promise<Omit<Answer, 'ms'>> {
    const none = { status: 0, headers: {}, body: '' };
    return new Promise((resolve) => {
      const req = request(
        { agent: this.agent, hostname: this.url.hostname, port: this.url.port, method, path, headers },
        (res) => {
          const status = res.statusCode ?? 0;
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => {
            if (!ok.has(status)) chunks.push(chunk);
          });
          res.once('end', () =>
            resolve({ status, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
          );
          res.once('error', () => resolve(none));
        },
      );
      req.once('error', () => resolve(none));
      req.end();
    });
  }
}

/** Two phases as one: their requests and latencies pooled. */
export function combine(name: string, a: RawPhase, b: RawPhase): RawPhase {
  const seconds = a.seconds + b.seconds;
  const requests = a.requests + b.requests;
  const statuses = { ...a.statuses };
  for (const [status, count] of Object.entries(b.statuses))
    statuses[status] = (statuses[status] ?? 0) + count;
  const latencies = [...a.latencies, ...b.latencies];
  return {
    name,
    seconds,
    requests,
    errors: a.errors + b.errors,
    requestsPerSecond: requests / seconds,
    latencyMs: summarize(latencies),
    statuses,
    latencies,
  };
}
