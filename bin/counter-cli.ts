#!/usr/bin/env -S npx tsx
import { createReadStream, fstatSync, realpathSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  type Counter,
  CounterClient,
  type CounterClientOptions,
  type HistoryEntry,
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

export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

const USAGE = `Usage: counter [options] <command> [arguments]

Commands:
  get NAME                show a counter
  inc NAME [BY]           add BY to a counter (default 1; negative subtracts)
  set NAME VALUE          set a counter to VALUE
  rm NAME                 delete a counter and its history
  ls [PREFIX]             list counters by name
  history NAME            a counter's changes, oldest first
  export [PREFIX]         write counters with their history to stdout, as JSON Lines
  import [FILE]           recreate counters from an export (stdin when FILE is absent or -)

Options:
  --url URL               the API (default $COUNTER_URL, else http://127.0.0.1:3000)
  --region REGION         the region to sign for (default $AWS_REGION, else us-east-1)
  --json                  machine output: JSON, one document per line for ls and history
  --if-match VERSION      inc, set, rm: change only a counter at this version (0: only a new one)
  --shards N              set: create the counter spread over N items (2-32), for hot counters
  --idempotency-key KEY   inc, set, rm: repeat the command with the same key and it applies once
  --salt TEXT             import: import afresh rather than resume an earlier run of the same file
  -h, --help              show this help

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
}

class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const VALUE_OPTIONS = new Set(['--url', '--region', '--if-match', '--idempotency-key', '--salt', '--shards']);

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
    const url = values.url ?? io.env.COUNTER_URL ?? 'http://127.0.0.1:3000';
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
        await show(await client.set(name, integer(value, 'VALUE'), { ...changeOptions, ...shards }));
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
        const table = new Table(
          write,
          ['VERSION', 'OP', 'DELTA', 'VALUE', 'AT', 'ACTOR'],
          [true, false, true, true, false, false],
        );
        for await (const entry of client.history(name, { limit: 1000 })) {
          if (json) await write(JSON.stringify(entry));
          else await table.add(historyRow(entry));
        }
        await table.flush();
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
    if (/^-\d+$/.test(arg) && !(previous !== undefined && VALUE_OPTIONS.has(previous))) moved.push(arg);
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

function describeCounter(counter: Counter): string {
  const when = counter.updated_at === null ? 'never changed' : `updated ${counter.updated_at}`;
  return `${counter.name} = ${counter.value}  (version ${counter.version}, ${when})`;
}

function historyRow(entry: HistoryEntry): string[] {
  const delta = entry.delta > 0 ? `+${entry.delta}` : String(entry.delta);
  return [String(entry.version), entry.op, delta, String(entry.value), entry.created_at, entry.actor];
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
  });
}
