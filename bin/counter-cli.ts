#!/usr/bin/env -S npx tsx
import { once } from 'node:events';
import { createReadStream, fstatSync, realpathSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  type Counter,
  CounterClient,
  type CounterClientOptions,
  SERIES_INTERVALS,
  type SeriesBucket,
  type SeriesInterval,
} from '../client/counter-client.ts';
import { credentialsFromEnv } from '../client/credentials.ts';
import {
  CounterApiError,
  CounterCredentialsError,
  CounterNetworkError,
  UnexpectedAnswerError,
} from '../client/errors.ts';
import { exportCounters, ImportFormatError, importCounters, lineWriter } from '../client/export-import.ts';
import { Progress, type ProgressStream } from '../client/progress.ts';
import { startConsole } from '../console/server.ts';
import { describeCounter, HISTORY_HEADER, HISTORY_RIGHT_ALIGNED, historyRow } from './cli/format.ts';
import { renderSeriesChart } from './cli/terminal-chart.ts';
import { watchCounter } from './cli/watch.ts';

export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

const USAGE = `Usage: counter [options] <command> [arguments]

Commands:
  get NAME                show a counter
  inc NAME [BY]           add BY to a counter (default 1; negative subtracts)
  set NAME VALUE          set a counter to VALUE
  rm NAME                 delete a counter and its history
  ls [PREFIX]             list counters by name
  history NAME            a counter's changes, oldest first (--since, --until)
  series NAME             a counter's value over time as a chart, a bucket per --interval
  watch NAME              show a counter and its latest changes, refreshed until Ctrl-C
  console                 serve a web console on loopback and print its address (until Ctrl-C)
  export [PREFIX]         write counters with their history to stdout, as JSON Lines
  import [FILE]           recreate counters from an export (stdin when FILE is absent or -)

Options:
  --url URL               the API (default $COUNTER_URL, else http://127.0.0.1:3000)
  --region REGION         the region to sign for (default $AWS_REGION, else us-east-1)
  --json                  machine output: JSON, one document per line for ls and history
  --if-match VERSION      inc, set, rm: change only a counter at this version (0: only a new one)
  --shards N              set: create the counter spread over N items (2-32), for hot counters
  --min N, --max N        set: bound the counter (no change takes it past them; 409); none removes one
  --idempotency-key KEY   inc, set, rm: repeat the command with the same key and it applies once
  --salt TEXT             import: import afresh rather than resume an earlier run of the same file
  --interval I            series: minute, hour (the default) or day, in UTC
  --since TIME            history, series: from this instant on (ISO 8601 UTC: 2026-01-02T10:00:00Z)
  --until TIME            history, series: before this instant
  --every SECONDS         watch: how often to look again (default 2)
  --port PORT             console: the port on 127.0.0.1 (default 3001; 0 picks a free one)
  -h, --help              show this help

Through npm, add -s so npm's own banner stays off stdout: npm run -s counter -- get NAME --json

Credentials: COUNTER_ACCESS_KEY_ID, COUNTER_SECRET_ACCESS_KEY and COUNTER_SESSION_TOKEN when set,
else the AWS default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, SSO, ...).
The local server (npm start) takes local/local.

Exit codes: 0 done; 1 the API refused (404, 400, 409, 412, ...) or some counters failed to import;
2 usage error; 3 network or authorization failure (403, connection refused, no credentials).`;

/** Where the CLI reads and writes; the real process's streams, or stand-ins in tests. */
export interface CliIo {
  stdout: Writable;
  stderr: ProgressStream;
  stdin: Readable;
  env: NodeJS.ProcessEnv;
  makeClient?: (options: CounterClientOptions) => CounterClient;
  /**
   * For the commands that run until stopped (watch, console): a signal that aborts on Ctrl-C. Asked
   * for only by them, so every other command still stops at Ctrl-C as any program does.
   */
  untilStopped?: () => AbortSignal;
  /** Waits between looks (watch); resolves early when the signal aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const VALUE_OPTIONS = new Set([
  '--url',
  '--region',
  '--if-match',
  '--idempotency-key',
  '--salt',
  '--shards',
  '--min',
  '--max',
  '--interval',
  '--since',
  '--until',
  '--every',
  '--port',
]);

/** The console's port unless --port says otherwise: beside the local API's 3000. */
export const DEFAULT_CONSOLE_PORT = 3001;

/** Runs one command; resolves with the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const say = (text: string) => io.stderr.write(`${text}\n`);
  let json = false;
  try {
    const { values, positionals } = parse(argv);
    json = values.json === true;
    if (values.help === true) {
      io.stdout.write(`${USAGE}\n`);
      return EXIT.ok;
    }
    const [command, ...args] = positionals;
    if (command === undefined) throw new UsageError('no command given');
    // An empty COUNTER_URL is as good as none; an empty --url is a variable that was not set.
    const url = values.url ?? (io.env.COUNTER_URL || 'http://127.0.0.1:3000');
    if (url.trim() === '') {
      throw new UsageError(
        '--url is empty (was the variable given to it unset?); give the API URL, such as the stack ' +
          'output CounterService.ApiUrl, or leave --url out for http://127.0.0.1:3000',
      );
    }
    if (!URL.canParse(url)) throw new UsageError(`--url ${url} is not a URL`);
    const region = values.region ?? (io.env.AWS_REGION || undefined);
    const credentials = credentialsFromEnv(io.env);
    const client = (io.makeClient ?? ((options) => new CounterClient(options)))({
      url,
      ...(region === undefined ? {} : { region }),
      ...(credentials === undefined ? {} : { credentials }),
    });
    const write = lineWriter(io.stdout);
    const changeOptions = {
      ...(values['if-match'] === undefined ? {} : { ifMatch: version(values['if-match']) }),
      ...(values['idempotency-key'] === undefined ? {} : { idempotencyKey: values['idempotency-key'] }),
    };
    const show = async (counter: Counter) => write(json ? JSON.stringify(counter) : describeCounter(counter));

    switch (command) {
      case 'get':
        await show(await client.get(one(args, 'NAME')));
        return EXIT.ok;
      case 'inc': {
        const [name = '', by] = upTo(args, ['NAME'], ['BY']);
        await show(
          await client.increment(name, by === undefined ? undefined : integer(by, 'BY'), changeOptions),
        );
        return EXIT.ok;
      }
      case 'set': {
        const [name, value = ''] = exactly(args, ['NAME', 'VALUE']);
        const shards = values.shards === undefined ? {} : { shards: shardCount(values.shards) };
        const bounds = {
          ...(values.min === undefined ? {} : { min: bound(values.min, '--min') }),
          ...(values.max === undefined ? {} : { max: bound(values.max, '--max') }),
        };
        await show(
          await client.set(name, integer(value, 'VALUE'), { ...changeOptions, ...shards, ...bounds }),
        );
        return EXIT.ok;
      }
      case 'rm': {
        const name = one(args, 'NAME');
        await client.delete(name, changeOptions);
        await write(json ? JSON.stringify({ name, deleted: true }) : `deleted ${name}`);
        return EXIT.ok;
      }
      case 'ls': {
        const [prefix] = upTo(args, [], ['PREFIX']);
        const table = new Table(write, ['NAME', 'VALUE', 'VERSION', 'UPDATED'], [false, true, true, false]);
        for await (const counter of client.list({ prefix: prefix ?? '', limit: 100 })) {
          if (json) await write(JSON.stringify(counter));
          else
            await table.add([
              counter.name,
              String(counter.value),
              String(counter.version),
              counter.updated_at ?? '-',
            ]);
        }
        await table.flush();
        return EXIT.ok;
      }
      case 'history': {
        const name = one(args, 'NAME');
        const table = new Table(write, HISTORY_HEADER, HISTORY_RIGHT_ALIGNED);
        for await (const entry of client.history(name, { limit: 1000, ...window(values) })) {
          if (json) await write(JSON.stringify(entry));
          else await table.add(historyRow(entry));
        }
        await table.flush();
        return EXIT.ok;
      }
      case 'series': {
        const name = one(args, 'NAME');
        const interval = seriesInterval(values.interval ?? 'hour');
        const buckets: SeriesBucket[] = [];
        for await (const bucket of client.series(name, { interval, limit: 1440, ...window(values) })) {
          if (json) await write(JSON.stringify(bucket));
          else buckets.push(bucket);
        }
        if (!json) {
          const columns =
            'columns' in io.stdout && typeof io.stdout.columns === 'number' ? io.stdout.columns : 80;
          const width = Math.max(20, Math.min(120, columns - 24));
          await write(`${name}, by ${interval} (UTC)`);
          for (const line of renderSeriesChart(buckets, { interval, width })) await write(line);
        }
        return EXIT.ok;
      }
      case 'watch': {
        const name = one(args, 'NAME');
        const everyMs = seconds(values.every ?? '2') * 1000;
        const signal = stopSignal(io);
        await watchCounter({
          client,
          name,
          everyMs,
          json,
          tty: 'isTTY' in io.stdout && io.stdout.isTTY === true,
          write: async (text) => {
            if (!io.stdout.write(text)) await once(io.stdout, 'drain');
          },
          signal,
          sleep: io.sleep ?? pause,
        });
        return EXIT.ok;
      }
      case 'console': {
        upTo(args, [], []);
        const port = values.port === undefined ? DEFAULT_CONSOLE_PORT : portNumber(values.port);
        const signal = stopSignal(io);
        let server: Awaited<ReturnType<typeof startConsole>>;
        try {
          server = await startConsole({ client, port, log: say });
        } catch (error) {
          if (error instanceof Error && 'code' in error && error.code === 'EADDRINUSE') {
            say(
              `counter: port ${port} on 127.0.0.1 is in use; choose another with --port (0 picks a free one)`,
            );
            return EXIT.failed;
          }
          throw error;
        }
        await write(`Counter console on ${server.url} for ${client.url.href} (Ctrl-C stops)`);
        await new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          else signal.addEventListener('abort', () => resolve(), { once: true });
        });
        await server.close();
        return EXIT.ok;
      }
      case 'export': {
        const [prefix] = upTo(args, [], ['PREFIX']);
        const progress = new Progress(io.stderr, 'export');
        const summary = await exportCounters(client, write, {
          prefix: prefix ?? '',
          onProgress: (p) => progress.update(`${p.counters} counters, ${p.entries} history entries`),
        });
        progress.finish(
          `exported ${summary.counters} counters with ${summary.entries} history entries` +
            (summary.vanished.length === 0 ? '' : `; ${summary.vanished.length} deleted meanwhile`),
        );
        for (const name of summary.incomplete) {
          say(`warning: ${name}: its history had not caught up with its version; exported what there was`);
        }
        return EXIT.ok;
      }
      case 'import': {
        const [file] = upTo(args, [], ['FILE']);
        const fromStdin = file === undefined || file === '-';
        if (fromStdin && 'isTTY' in io.stdin && io.stdin.isTTY === true) {
          throw new UsageError(
            'import reads an export from FILE or from stdin: counter import < counters.jsonl',
          );
        }
        const input = fromStdin ? io.stdin : createReadStream(file);
        const total = fromStdin ? sizeOfStdin(io.stdin) : statSync(file).size;
        const progress = new Progress(io.stderr, 'import');
        const summary = await importCounters(client, createInterface({ input, crlfDelay: Infinity }), {
          ...(values.salt === undefined ? {} : { salt: values.salt }),
          onProgress: (p) => progress.update(`${p.counters} counters, ${p.changes} changes`, p.bytes, total),
        });
        progress.finish(
          `imported ${summary.counters - summary.failed.length} of ${summary.counters} counters: ` +
            `${summary.changes} changes replayed (${summary.replayed} already applied by an earlier run)`,
        );
        for (const failure of summary.failed) say(`error: ${failure.name}: ${failure.reason}`);
        if (json) await write(JSON.stringify(summary));
        return summary.failed.length === 0 ? EXIT.ok : EXIT.failed;
      }
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      say(`counter: ${error.message}\nRun "counter --help" for usage.`);
      return EXIT.usage;
    }
    if (error instanceof CounterApiError) {
      say(`counter: ${describeApiError(error)}`);
      return error.isAuthError ? EXIT.unreachable : EXIT.failed;
    }
    if (error instanceof CounterNetworkError || error instanceof CounterCredentialsError) {
      say(`counter: ${error.message}`);
      return EXIT.unreachable;
    }
    if (error instanceof ImportFormatError || error instanceof UnexpectedAnswerError) {
      say(`counter: ${error.message}`);
      return EXIT.failed;
    }
    if (isBrokenPipe(error)) return EXIT.ok;
    if (error instanceof RangeError || isFileError(error)) {
      say(`counter: ${error instanceof Error ? error.message : String(error)}`);
      return EXIT.failed;
    }
    throw error;
  }
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: negativesAsPositionals(argv),
      allowPositionals: true,
      strict: true,
      options: {
        url: { type: 'string' },
        region: { type: 'string' },
        json: { type: 'boolean' },
        'if-match': { type: 'string' },
        'idempotency-key': { type: 'string' },
        salt: { type: 'string' },
        shards: { type: 'string' },
        min: { type: 'string' },
        max: { type: 'string' },
        interval: { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        every: { type: 'string' },
        port: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * `counter inc x -5` must read -5 as a number, not as an unknown option `-5`: such arguments move
 * after a `--`, which keeps them in order as the last positionals, where BY and VALUE stand.
 */
export function negativesAsPositionals(argv: string[]): string[] {
  const kept: string[] = [];
  const moved: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      moved.push(...argv.slice(i + 1));
      break;
    }
    const previous = argv[i - 1];
    const negative = /^-\d+$/.test(arg);
    // A negative value of an option (--min -5) goes with it inline, which parseArgs takes as a value.
    if (negative && previous !== undefined && VALUE_OPTIONS.has(previous)) kept.push(`${kept.pop()}=${arg}`);
    else if (negative) moved.push(arg);
    else kept.push(arg);
  }
  return moved.length === 0 ? kept : [...kept, '--', ...moved];
}

function one(args: string[], name: string): string {
  const [first] = exactly(args, [name]);
  return first;
}

function exactly(args: string[], names: string[]): [string, ...string[]] {
  const [first, ...rest] = args;
  if (first === undefined || args.length !== names.length) {
    throw new UsageError(
      `expected ${names.join(' ')}, got ${args.length === 0 ? 'nothing' : args.join(' ')}`,
    );
  }
  return [first, ...rest];
}

/** The arguments, once there are as many as the command takes; optional ones may be missing. */
function upTo(args: string[], required: string[], optional: string[]): string[] {
  if (args.length < required.length || args.length > required.length + optional.length) {
    const shape = [...required, ...optional.map((name) => `[${name}]`)].join(' ');
    throw new UsageError(
      `expected ${shape || 'no arguments'}, got ${args.length === 0 ? 'nothing' : args.join(' ')}`,
    );
  }
  return args;
}

function integer(text: string, what: string): number {
  if (!/^-?(0|[1-9][0-9]*)$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(
      `${what} must be a whole number from -9007199254740991 to 9007199254740991; got ${text}`,
    );
  }
  return Number(text);
}

/** A bound on the command line: a whole number, or `none` to remove it. */
function bound(text: string, what: string): number | null {
  return text === 'none' ? null : integer(text, what);
}

function shardCount(text: string): number {
  if (!/^[1-9][0-9]?$/.test(text) || Number(text) > 32) {
    throw new UsageError(`--shards must be a whole number from 1 to 32; got ${text}`);
  }
  return Number(text);
}

function version(text: string): number {
  const bare = text.replace(/^"(.*)"$/, '$1');
  if (!/^(0|[1-9][0-9]*)$/.test(bare) || !Number.isSafeInteger(Number(bare))) {
    throw new UsageError(`--if-match must be a version, such as 3; got ${text}`);
  }
  return Number(bare);
}

/** --since and --until as given: the API judges them, and its refusal says what was wrong. */
function window(values: { since?: string | undefined; until?: string | undefined }) {
  return {
    ...(values.since === undefined ? {} : { since: values.since }),
    ...(values.until === undefined ? {} : { until: values.until }),
  };
}

function seriesInterval(text: string): SeriesInterval {
  const found = SERIES_INTERVALS.find((interval) => interval === text);
  if (found === undefined) throw new UsageError(`--interval must be minute, hour or day; got ${text}`);
  return found;
}

function seconds(text: string): number {
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || value < 0.2 || value > 3600) {
    throw new UsageError(`--every must be a number of seconds from 0.2 to 3600; got ${text}`);
  }
  return value;
}

function portNumber(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    throw new UsageError(`--port must be a port number from 0 to 65535; got ${text}`);
  }
  return Number(text);
}

function stopSignal(io: CliIo): AbortSignal {
  return io.untilStopped?.() ?? new AbortController().signal;
}

/** Waits `ms`, or less when the signal aborts first. */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  await delay(ms, undefined, { signal }).catch(() => undefined);
}

function describeApiError(error: CounterApiError): string {
  const what = error.problem === undefined ? `${error.status}` : `${error.status} ${error.problem}`;
  const detail = error.detail ?? error.title ?? 'no detail given';
  const hint = error.status === 403 ? ' (check the credentials, the region and the grants)' : '';
  return `${detail} [${what}]${hint}`;
}

/**
 * A plain-text table that streams: rows are printed a hundred at a time, with columns as wide as the
 * widest cell seen so far, so a long listing starts at once and needs no more memory than a page.
 */
class Table {
  private rows: string[][] = [];
  private widths: number[];
  private headerDone = false;

  constructor(
    private readonly write: (line: string) => Promise<void>,
    private readonly header: string[],
    private readonly rightAligned: boolean[],
  ) {
    this.widths = header.map((cell) => cell.length);
  }

  async add(row: string[]): Promise<void> {
    this.rows.push(row);
    if (this.rows.length >= 100) await this.flush();
  }

  async flush(): Promise<void> {
    for (const row of this.rows) {
      row.forEach((cell, index) => {
        this.widths[index] = Math.max(this.widths[index] ?? 0, cell.length);
      });
    }
    if (!this.headerDone && this.rows.length > 0) {
      await this.write(this.format(this.header));
      this.headerDone = true;
    }
    for (const row of this.rows) await this.write(this.format(row));
    this.rows = [];
  }

  private format(row: string[]): string {
    return row
      .map((cell, index) => {
        const last = index === row.length - 1;
        if (this.rightAligned[index] === true) return cell.padStart(this.widths[index] ?? 0);
        return last ? cell : cell.padEnd(this.widths[index] ?? 0);
      })
      .join('  ');
  }
}

function sizeOfStdin(stdin: Readable): number | undefined {
  if (stdin !== process.stdin) return undefined;
  try {
    const stat = fstatSync(0);
    return stat.isFile() ? stat.size : undefined;
  } catch {
    return undefined;
  }
}

function isBrokenPipe(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'EPIPE';
}

function isFileError(error: unknown): boolean {
  return error instanceof Error && 'code' in error && (error.code === 'ENOENT' || error.code === 'EISDIR');
}

/** Run as a program, also through the `counter` link npm makes in node_modules/.bin. */
function isMain(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isMain()) {
  // `counter ls | head` closes stdout early: stop quietly rather than die on EPIPE.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT.ok);
  });
  process.exitCode = await runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    untilStopped: () => {
      const controller = new AbortController();
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => controller.abort());
      return controller.signal;
    },
  });
}
