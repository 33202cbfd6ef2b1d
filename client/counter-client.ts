import { randomUUID } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { z } from 'zod';
import { backoffMs } from '../functions/platform/retry.ts';
import { NodeSha256 } from '../lib/local/node-sha256.ts';
import { type CredentialsOption, defaultCredentials } from './credentials.ts';
import {
  CounterApiError,
  CounterCredentialsError,
  CounterNetworkError,
  UnexpectedAnswerError,
} from './errors.ts';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const integer = z.number().int().min(-MAX_SAFE).max(MAX_SAFE);

/** A counter as the API shows it. Fields the service may add later are dropped, not refused. */
export const counterSchema = z.object({
  name: z.string().min(1),
  value: integer,
  /** 0 only for the never-changed counter `default`. */
  version: z.number().int().nonnegative(),
  created_at: z.string().nullable(),
  updated_at: z.string().nullable(),
  /** Only for a counter spread over several items (docs/sharding.md). */
  shards: z.number().int().min(2).optional(),
  /** Bounds the counter's value is kept within, while it has them. */
  min: integer.optional(),
  max: integer.optional(),
});
export type Counter = z.infer<typeof counterSchema>;

/** One change in a counter's history. */
export const historyEntrySchema = z.object({
  version: z.number().int().positive(),
  value: integer,
  delta: z.number().int(),
  op: z.enum(['increment', 'set']),
  created_at: z.string(),
  actor: z.string(),
  /** The counter's bounds after the change, while it has them. */
  min: integer.optional(),
  max: integer.optional(),
});
export type HistoryEntry = z.infer<typeof historyEntrySchema>;

export const SERIES_INTERVALS = ['minute', 'hour', 'day'] as const;
export type SeriesInterval = (typeof SERIES_INTERVALS)[number];

/** One UTC bucket of a counter's series: the changes in it, summed, and the value after the last. */
export const seriesBucketSchema = z.object({
  start: z.iso.datetime({ offset: true }),
  delta: z.number().int(),
  count: z.number().int().positive(),
  value: integer,
});
export type SeriesBucket = z.infer<typeof seriesBucketSchema>;

const problemSchema = z.object({
  type: z.string().optional(),
  title: z.string().optional(),
  status: z.number().optional(),
  detail: z.string().optional(),
});
const gatewayMessageSchema = z.object({ message: z.string() });

export interface RetryOptions {
  /** Attempts in all, the first included. Default 8; 1 turns retries off. */
  maxAttempts?: number;
  /** The first back-off; each retry doubles it, with jitter. Default 200 ms. */
  baseDelayMs?: number;
  /** The longest back-off between two attempts. Default 10 s. */
  maxDelayMs?: number;
  /** A Retry-After longer than this ends the retries rather than blocking the caller. Default 60 s. */
  maxRetryAfterMs?: number;
}

export interface CounterClientOptions {
  /** The API's base URL: the stack's `ApiUrl` output, or `http://127.0.0.1:3000` for `npm start`. */
  url: string | URL;
  /**
   * The region requests are signed for. Default: the region in an `execute-api` URL, else `AWS_REGION`,
   * else `us-east-1`.
   */
  region?: string;
  /** Keys or a provider. Default: the AWS SDK's default credential chain. Session tokens are signed too. */
  credentials?: CredentialsOption;
  retry?: RetryOptions;
  /** How long one attempt may take before it is abandoned (and, where safe, retried). Default 30 s. */
  timeoutMs?: number;
  /** Replaceable for tests. */
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export interface ChangeOptions {
  /**
   * The key that makes a retry of this change safe (docs/api.md section 4). Default: a fresh UUID per
   * call, kept across this call's retries; pass your own to make retries across calls or processes safe.
   */
  idempotencyKey?: string;
  /** Apply only if the counter is at this version (412 otherwise); 0 means "only if it does not exist". */
  ifMatch?: number;
}

export type Change =
  | { op: 'increment'; by?: number | undefined }
  | {
      op: 'set';
      value: number;
      shards?: number | undefined;
      /** A number sets the bound, null removes it, undefined keeps the counter's. */
      min?: number | null | undefined;
      max?: number | null | undefined;
    }
  | { op: 'delete' };

export interface ChangeResult {
  /** The counter after the change; undefined after a delete, or an increment answered 204 (not read). */
  counter: Counter | undefined;
  /** True when the API answered an earlier request's answer again (`Idempotent-Replayed: true`). */
  replayed: boolean;
}

export interface ListOptions {
  prefix?: string;
  /** Counters per page (1-100); the iterator follows every page whatever the size. */
  limit?: number;
}

export interface HistoryOptions {
  /** Entries per page (1-1000). */
  limit?: number;
  /** Only changes at or after this instant (ISO 8601, UTC). */
  since?: string;
  /** Only changes before this instant (ISO 8601, UTC). */
  until?: string;
}

export interface SeriesOptions {
  interval: SeriesInterval;
  /** Buckets per page (1-1440). */
  limit?: number;
  /** Only buckets at or after this instant (ISO 8601, UTC). */
  since?: string;
  /** Only buckets before this instant (ISO 8601, UTC). */
  until?: string;
}

/** An answer as it arrived, for callers that need more than the typed methods give. */
export interface RawAnswer {
  status: number;
  headers: Headers;
  /** The parsed JSON body; undefined when empty or not JSON. */
  body: unknown;
  text: string;
}

interface SendOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** Safe to send again: reads, and changes that carry an Idempotency-Key. */
  retryable: boolean;
}

const REFUSED_ATTEMPTS = 3;

const DEFAULT_RETRY: Required<RetryOptions> = {
  maxAttempts: 8,
  baseDelayMs: 200,
  maxDelayMs: 10_000,
  maxRetryAfterMs: 60_000,
};

/**
 * A typed client for the counter service. Every request is signed with SigV4 for `execute-api`; every
 * answer is checked against the contract's shapes; errors are `CounterApiError` (the API said no),
 * `CounterNetworkError` (no answer) or `CounterCredentialsError` (nothing to sign with).
 *
 * Reads are retried on throttling, 5xx and network failures. Changes are retried on the same, and on
 * 409 "request in flight", always with the same `Idempotency-Key`, so a retry whose first attempt did
 * land is answered from the service's record instead of being applied again: a retry never counts twice.
 */
export class CounterClient {
  readonly url: URL;
  readonly region: string;
  private readonly signer: SignatureV4;
  private readonly retry: Required<RetryOptions>;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(options: CounterClientOptions) {
    // A stage path is kept; the routes' paths are appended to it.
    const url = new URL(String(options.url));
    url.search = '';
    url.hash = '';
    this.url = url;
    this.region =
      options.region ??
      regionOf(url) ??
      process.env.AWS_REGION ??
      process.env.AWS_DEFAULT_REGION ??
      'us-east-1';
    const credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider =
      options.credentials ?? defaultCredentials();
    this.signer = new SignatureV4({
      service: 'execute-api',
      region: this.region,
      credentials,
      sha256: NodeSha256,
    });
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    if (!Number.isInteger(this.retry.maxAttempts) || this.retry.maxAttempts < 1) {
      throw new RangeError('retry.maxAttempts must be a whole number of at least 1');
    }
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.fetch = options.fetch ?? globalThis.fetch;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
  }

  /** The counter; `CounterApiError` 404 when there is none (only `default` reads as 0 before it exists). */
  async get(name: string): Promise<Counter> {
    const answer = await this.send('GET', counterPath(name), { retryable: true });
    return parse(counterSchema, answer, 'a counter');
  }

  /** Adds `by` (default 1; negative subtracts), creating the counter at 0 first if absent. */
  async increment(name: string, by?: number, options: ChangeOptions = {}): Promise<Counter> {
    const result = await this.change(name, { op: 'increment', by }, options);
    // 204: applied, but a sharded counter could not be read after it; a read now is safe to retry.
    return result.counter ?? (await this.get(name));
  }

  /**
   * Sets the counter to `value`, creating it if absent. `shards` (2 to 32) creates it spread over that
   * many items for hot counters; the API refuses it (409) for a counter that exists (docs/sharding.md).
   * `min`/`max` bound it (a number sets the bound, null removes it, leaving it out keeps it); a change
   * past a bound is refused with 409 `/problems/out-of-bounds`.
   */
  async set(
    name: string,
    value: number,
    options: ChangeOptions & {
      shards?: number | undefined;
      min?: number | null | undefined;
      max?: number | null | undefined;
    } = {},
  ): Promise<Counter> {
    const { shards, min, max, ...changeOptions } = options;
    return this.counterOf(await this.change(name, { op: 'set', value, shards, min, max }, changeOptions));
  }

  /** Deletes the counter and, eventually, its history; `CounterApiError` 404 if there was none. */
  async delete(name: string, options: ChangeOptions = {}): Promise<void> {
    await this.change(name, { op: 'delete' }, options);
  }

  /** Any change, with whether the answer was a replay of an earlier attempt's. */
  async change(name: string, change: Change, options: ChangeOptions = {}): Promise<ChangeResult> {
    const headers: Record<string, string> = {
      'idempotency-key': options.idempotencyKey ?? `counter-client:${randomUUID()}`,
    };
    if (options.ifMatch !== undefined) {
      if (!Number.isSafeInteger(options.ifMatch) || options.ifMatch < 0) {
        throw new RangeError(
          `ifMatch must be a version (a whole number of 0 or more); got ${options.ifMatch}`,
        );
      }
      headers['if-match'] = `"${options.ifMatch}"`;
    }
    const method = change.op === 'increment' ? 'POST' : change.op === 'set' ? 'PUT' : 'DELETE';
    const body =
      change.op === 'increment'
        ? change.by === undefined
          ? undefined
          : { by: change.by }
        : change.op === 'set'
          ? {
              value: change.value,
              ...(change.shards === undefined ? {} : { shards: change.shards }),
              ...(change.min === undefined ? {} : { min: change.min }),
              ...(change.max === undefined ? {} : { max: change.max }),
            }
          : undefined;
    const answer = await this.send(method, counterPath(name), { body, headers, retryable: true });
    const replayed = answer.headers.get('idempotent-replayed') === 'true';
    // A change answered without a body: a delete, or an increment applied but not read (204).
    if (change.op === 'delete' || answer.status === 204) return { counter: undefined, replayed };
    return { counter: parse(counterSchema, answer, 'a counter'), replayed };
  }

  /** Every counter whose name starts with `prefix`, by name, fetched a page at a time. */
  async *list(options: ListOptions = {}): AsyncGenerator<Counter, void, undefined> {
    const query = new URLSearchParams();
    if (options.prefix !== undefined && options.prefix !== '') query.set('prefix', options.prefix);
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    yield* this.pages(withQuery('/counters', query), z.array(counterSchema), 'a page of counters');
  }

  /** A counter's changes, oldest first, fetched a page at a time. */
  async *history(name: string, options: HistoryOptions = {}): AsyncGenerator<HistoryEntry, void, undefined> {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.since !== undefined) query.set('since', options.since);
    if (options.until !== undefined) query.set('until', options.until);
    yield* this.pages(
      withQuery(`${counterPath(name)}/history`, query),
      z.array(historyEntrySchema),
      'a page of history',
    );
  }

  /** A counter's series in UTC buckets of `interval`, oldest first, fetched a page at a time. */
  async *series(name: string, options: SeriesOptions): AsyncGenerator<SeriesBucket, void, undefined> {
    const query = new URLSearchParams({ interval: options.interval });
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.since !== undefined) query.set('since', options.since);
    if (options.until !== undefined) query.set('until', options.until);
    yield* this.pages(
      withQuery(`${counterPath(name)}/series`, query),
      z.array(seriesBucketSchema),
      'a page of series',
    );
  }

  /**
   * A signed request to any path under the API's URL, answered as it came (no error for 4xx/5xx), with
   * reads' retries. For routes the typed methods do not cover, such as the seed's `GET /counter`.
   * `headers` are sent too (`if-match`, `idempotency-key`); a change that carries an `idempotency-key`
   * is retried like the typed changes, since a retry cannot apply it twice.
   */
  async request(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<RawAnswer> {
    const headers = options.headers ?? {};
    const keyed = Object.keys(headers).some((header) => header.toLowerCase() === 'idempotency-key');
    const { answer } = await this.exchange(method, this.resolve(path), {
      body: options.body,
      headers,
      retryable: method === 'GET' || keyed,
    });
    return answer;
  }

  private counterOf(result: ChangeResult): Counter {
    if (result.counter === undefined)
      throw new UnexpectedAnswerError('the API answered a change without a counter');
    return result.counter;
  }

  private async *pages<T>(
    first: string,
    schema: z.ZodType<T[]>,
    what: string,
  ): AsyncGenerator<T, void, undefined> {
    let next: URL | undefined = this.resolve(first);
    while (next !== undefined) {
      const answer = await this.send('GET', next, { retryable: true });
      yield* parse(schema, answer, what);
      const link = nextLink(answer.headers.get('link'));
      // The service's links are absolute paths (API Gateway's rawPath), so they resolve against the origin.
      next = link === undefined ? undefined : new URL(link, this.url);
    }
  }

  private resolve(path: string): URL {
    const url = new URL(this.url);
    const at = path.indexOf('?');
    url.pathname = `${this.url.pathname.replace(/\/+$/, '')}${at === -1 ? path : path.slice(0, at)}`;
    url.search = at === -1 ? '' : path.slice(at);
    return url;
  }

  private async send(method: string, target: string | URL, options: SendOptions): Promise<RawAnswer> {
    const url = typeof target === 'string' ? this.resolve(target) : target;
    const { answer, attempts } = await this.exchange(method, url, options);
    if (answer.status >= 400) throw apiError(answer, attempts);
    return answer;
  }

  /** Sends until an answer that is final, or attempts run out; throws only when nothing answered. */
  private async exchange(
    method: string,
    url: URL,
    options: SendOptions,
  ): Promise<{ answer: RawAnswer; attempts: number }> {
    const text = options.body === undefined ? undefined : JSON.stringify(options.body);
    for (let attempt = 1; ; attempt++) {
      const last = !options.retryable || attempt >= this.retry.maxAttempts;
      let answer: RawAnswer;
      try {
        answer = await this.attempt(method, url, text, options.headers ?? {});
      } catch (error) {
        if (error instanceof CounterCredentialsError) throw error;
        // Nothing listening is rarely a blip (API Gateway never refuses connections): give up sooner.
        if (last || (isConnectionRefused(error) && attempt >= REFUSED_ATTEMPTS)) {
          throw new CounterNetworkError(`${method} ${url.href} failed: ${describeNetworkError(error)}`, {
            cause: error,
            attempts: attempt,
          });
        }
        await this.sleep(this.backoff(attempt));
        continue;
      }
      if (answer.status < 400 || last) return { answer, attempts: attempt };
      const error = apiError(answer, attempt);
      const retryAfterMs = (error.retryAfterSeconds ?? 0) * 1000;
      if (!isRetryable(error) || retryAfterMs > this.retry.maxRetryAfterMs) {
        return { answer, attempts: attempt };
      }
      await this.sleep(Math.max(retryAfterMs, this.backoff(attempt)));
    }
  }

  private async attempt(
    method: string,
    url: URL,
    body: string | undefined,
    extra: Record<string, string>,
  ): Promise<RawAnswer> {
    const headers: Record<string, string> = {
      host: url.host,
      accept: 'application/json, application/problem+json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...extra,
    };
    const query: Record<string, string> = {};
    for (const [key, value] of url.searchParams) query[key] = value;
    let signed: { headers: Record<string, string> };
    try {
      signed = await this.signer.sign({
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port === '' ? {} : { port: Number(url.port) }),
        path: url.pathname,
        query,
        headers,
        body,
      });
    } catch (error) {
      if (error instanceof CounterCredentialsError) throw error;
      throw new CounterCredentialsError(
        `Could not sign the request: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    // fetch sets Host itself, from the URL, to the same value that was signed.
    const { host: _host, ...sent } = signed.headers;
    const response = await this.fetch(url, {
      method,
      headers: sent,
      ...(body === undefined ? {} : { body }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: parseJson(text), text };
  }

  /** The pause after attempt `attempt`: never less than half the step ("equal jitter"), so retries do spread out. */
  private backoff(attempt: number): number {
    return backoffMs(attempt - 1, {
      baseMs: this.retry.baseDelayMs,
      capMs: this.retry.maxDelayMs,
      jitter: 'equal',
      random: this.random,
    });
  }
}

function apiError(answer: RawAnswer, attempts: number): CounterApiError {
  const problem = problemSchema.safeParse(answer.body);
  const gateway = gatewayMessageSchema.safeParse(answer.body);
  return new CounterApiError({
    status: answer.status,
    type: problem.success ? problem.data.type : undefined,
    title: problem.success ? problem.data.title : undefined,
    detail:
      problem.success && problem.data.detail !== undefined
        ? problem.data.detail
        : gateway.success
          ? gateway.data.message
          : answer.text.slice(0, 200) || undefined,
    requestId: answer.headers.get('x-request-id') ?? answer.headers.get('apigw-requestid') ?? undefined,
    retryAfterSeconds: retryAfter(answer.headers.get('retry-after')),
    attempts,
    replayed: answer.headers.get('idempotent-replayed') === 'true',
  });
}

/**
 * Worth another attempt: throttling, the service failing, and a keyed request still in flight. A 409
 * that says the change would leave the range is an answer, not a transient state.
 */
function isRetryable(error: CounterApiError): boolean {
  if (error.status === 429 || error.status >= 500) return true;
  return error.status === 409 && error.problem === 'request-in-flight';
}

/** Retry-After as seconds, or as an HTTP date (RFC 9110 section 10.2.3). */
export function retryAfter(header: string | null, now: number = Date.now()): number | undefined {
  if (header === null) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

/** The target of `Link: <...>; rel="next"`, among possibly several links. */
export function nextLink(header: string | null): string | undefined {
  if (header === null) return undefined;
  for (const part of header.split(/,(?=\s*<)/)) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (match?.[1] !== undefined && /;\s*rel="?([^";]*\s)?next(\s[^";]*)?"?\s*(;|$)/i.test(match[2] ?? '')) {
      return match[1];
    }
  }
  return undefined;
}

/**
 * The path of one counter. Names are encoded, so no name can reach another route; `.` and `..` cannot
 * be carried as a path segment (URLs resolve them away), which is why the API refuses them too (400).
 */
export function counterPath(name: string): string {
  if (name === '.' || name === '..') {
    throw new RangeError(`the counter name "${name}" cannot be used in a URL path`);
  }
  return `/counters/${encodeURIComponent(name)}`;
}

function withQuery(path: string, query: URLSearchParams): string {
  const text = query.toString();
  return text === '' ? path : `${path}?${text}`;
}

function regionOf(url: URL): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(url.hostname)?.[1];
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function parse<T>(schema: z.ZodType<T>, answer: RawAnswer, what: string): T {
  const result = schema.safeParse(answer.body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new UnexpectedAnswerError(
    `expected ${what}, got ${answer.text.slice(0, 200) || 'an empty body'}` +
      (issue === undefined ? '' : ` (${issue.path.join('.') || 'body'}: ${issue.message})`),
  );
}

function isConnectionRefused(error: unknown): boolean {
  const cause: unknown = error instanceof Error ? error.cause : undefined;
  return cause instanceof Error && 'code' in cause && cause.code === 'ECONNREFUSED';
}

function describeNetworkError(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError') return 'no answer in time';
    const cause: unknown = error.cause;
    if (cause instanceof Error) {
      const code = 'code' in cause && typeof cause.code === 'string' ? cause.code : undefined;
      return code === undefined ? `${error.message}: ${cause.message}` : `${error.message} (${code})`;
    }
    return error.message;
  }
  return String(error);
}
