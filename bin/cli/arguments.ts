import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { SERIES_INTERVALS, type SeriesInterval } from '../../client/counter-client.ts';

/** A command line the CLI cannot run: exit 2 with the message and a pointer to --help. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Every option the CLI takes; what each means is in usage.ts. */
const OPTIONS = {
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
} as const satisfies ParseArgsOptionsConfig;

/** The options that take a value, as written on the command line (`--min`). */
const VALUE_OPTIONS = new Set(
  Object.entries(OPTIONS)
    .filter(([, option]) => option.type === 'string')
    .map(([name]) => `--${name}`),
);

export type CliOptions = ReturnType<typeof parseCommandLine>['values'];

/** The options and the positionals (the command and its arguments); a `UsageError` for anything unknown. */
export function parseCommandLine(argv: string[]) {
  try {
    return parseArgs({
      args: negativesAsPositionals(argv),
      allowPositionals: true,
      strict: true,
      options: OPTIONS,
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

/** The one argument a command takes. */
export function one(args: string[], name: string): string {
  const [first] = exactly(args, [name]);
  return first;
}

export function exactly(args: string[], names: string[]): [string, ...string[]] {
  const [first, ...rest] = args;
  if (first === undefined || args.length !== names.length) {
    throw new UsageError(
      `expected ${names.join(' ')}, got ${args.length === 0 ? 'nothing' : args.join(' ')}`,
    );
  }
  return [first, ...rest];
}

/** The arguments, once there are as many as the command takes; optional ones may be missing. */
export function upTo(args: string[], required: string[], optional: string[]): string[] {
  if (args.length < required.length || args.length > required.length + optional.length) {
    const shape = [...required, ...optional.map((name) => `[${name}]`)].join(' ');
    throw new UsageError(
      `expected ${shape || 'no arguments'}, got ${args.length === 0 ? 'nothing' : args.join(' ')}`,
    );
  }
  return args;
}

export function integer(text: string, what: string): number {
  if (!/^-?(0|[1-9][0-9]*)$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(
      `${what} must be a whole number from -9007199254740991 to 9007199254740991; got ${text}`,
    );
  }
  return Number(text);
}

/** A bound on the command line: a whole number, or `none` to remove it. */
export function bound(text: string, what: string): number | null {
  return text === 'none' ? null : integer(text, what);
}

export function shardCount(text: string): number {
  if (!/^[1-9][0-9]?$/.test(text) || Number(text) > 32) {
    throw new UsageError(`--shards must be a whole number from 1 to 32; got ${text}`);
  }
  return Number(text);
}

export function version(text: string): number {
  const bare = text.replace(/^"(.*)"$/, '$1');
  if (!/^(0|[1-9][0-9]*)$/.test(bare) || !Number.isSafeInteger(Number(bare))) {
    throw new UsageError(`--if-match must be a version, such as 3; got ${text}`);
  }
  return Number(bare);
}

/** --since and --until as given: the API judges them, and its refusal says what was wrong. */
export function window(values: { since?: string | undefined; until?: string | undefined }) {
  return {
    ...(values.since === undefined ? {} : { since: values.since }),
    ...(values.until === undefined ? {} : { until: values.until }),
  };
}

export function seriesInterval(text: string): SeriesInterval {
  const found = SERIES_INTERVALS.find((interval) => interval === text);
  if (found === undefined) throw new UsageError(`--interval must be minute, hour or day; got ${text}`);
  return found;
}

export function seconds(text: string): number {
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || value < 0.2 || value > 3600) {
    throw new UsageError(`--every must be a number of seconds from 0.2 to 3600; got ${text}`);
  }
  return value;
}

export function portNumber(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    throw new UsageError(`--port must be a port number from 0 to 65535; got ${text}`);
  }
  return Number(text);
}
