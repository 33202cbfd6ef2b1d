/**
 * The command line of every benchmark (`npm run bench`, `bench:history`, `bench:shards`): one parser,
 * `node:util` `parseArgs` as bin/counter-cli.ts uses it, the same exit codes, the same progress lines.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type ParseArgsOptionDescriptor, parseArgs } from 'node:util';

/** A mistake on the command line: the message, then the usage. Exit code 2. */
export class UsageError extends Error {
  constructor(message: string, usage: string) {
    super(`${message}\n\n${usage}`);
    this.name = 'UsageError';
  }
}

/** `--help` or `-h`: the usage goes to stdout and the run ends there. Exit code 0. */
class HelpRequested extends Error {
  constructor(readonly usage: string) {
    super('help');
    this.name = 'HelpRequested';
  }
}

/**
 * The flags of one command line, parsed strictly (an unknown flag, a missing value or a stray argument
 * is a UsageError), then read through the value readers below, which give every benchmark the same
 * rules and messages. `--flag value` and `--flag=value` are both accepted; `-h`/`--help` prints `usage`.
 */
export class CommandLine<Name extends string> {
  private readonly values = new Map<string, string | boolean>();

  constructor(
    argv: readonly string[],
    options: Record<Name, ParseArgsOptionDescriptor>,
    readonly usage: string,
  ) {
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({
        args: [...argv],
        options: { ...options, help: { type: 'boolean', short: 'h' } },
        strict: true,
        allowPositionals: false,
      });
    } catch (error) {
      this.fail(error instanceof Error ? error.message : String(error));
    }
    for (const [name, value] of Object.entries(parsed.values)) {
      if (typeof value === 'string' || typeof value === 'boolean') this.values.set(name, value);
    }
    if (this.values.get('help') === true) throw new HelpRequested(usage);
  }

  fail(message: string): never {
    throw new UsageError(message, this.usage);
  }

  /** A boolean flag: given or not. */
  has(name: Name): boolean {
    return this.values.get(name) === true;
  }

  text(name: Name): string | undefined {
    const value = this.values.get(name);
    return typeof value === 'string' ? value : undefined;
  }

  /** A whole number from 1 up, or undefined when the flag is absent. */
  wholeNumber(name: Name): number | undefined {
    const text = this.text(name);
    return text === undefined ? undefined : this.parseWhole(name, text);
  }

  /** A number above 0 (fractions too), or undefined when the flag is absent. */
  positiveNumber(name: Name): number | undefined {
    const text = this.text(name);
    if (text === undefined) return undefined;
    const number = Number(text);
    if (text.trim() === '' || !Number.isFinite(number) || number <= 0)
      this.fail(`--${name} must be a positive number`);
    return number;
  }

  /** Comma-separated whole numbers from 1 up, or undefined when the flag is absent. */
  wholeNumbers(name: Name): number[] | undefined {
    return this.text(name)
      ?.split(',')
      .map((text) => this.parseWhole(name, text.trim()));
  }

  /** Comma-separated words, blanks dropped; undefined when the flag is absent. */
  list(name: Name): string[] | undefined {
    return this.text(name)
      ?.split(',')
      .map((word) => word.trim())
      .filter((word) => word !== '');
  }

  private parseWhole(name: string, text: string): number {
    if (!/^[1-9][0-9]*$/.test(text)) this.fail(`--${name} needs a whole number`);
    return Number(text);
  }
}

/**
 * A benchmark's progress on stderr (stdout is for its report), each line with the seconds since the
 * process started: `[bench:shards 42s] N=4: ...`.
 */
export function progressLog(tag: string): (line: string) => void {
  const started = performance.now();
  return (line) =>
    process.stderr.write(`[${tag} ${((performance.now() - started) / 1000).toFixed(0)}s] ${line}\n`);
}

/** Whether the module at `moduleUrl` is the one node was asked to run (not one a test imported). */
export function isEntryPoint(moduleUrl: string): boolean {
  const script = process.argv[1];
  return script !== undefined && moduleUrl === pathToFileURL(path.resolve(script)).href;
}

/**
 * Runs a benchmark's `main`: a usage mistake exits 2 with the usage, `--help` prints it and exits 0,
 * any other failure exits 1 with its stack. With `exitWhenDone` the process ends as soon as `main` is
 * over, for benchmarks whose loaded handlers keep SDK sockets alive.
 */
export async function runEntryPoint(
  main: () => Promise<void>,
  options: { exitWhenDone?: boolean } = {},
): Promise<void> {
  try {
    await main();
  } catch (error) {
    if (error instanceof HelpRequested) process.stdout.write(`${error.usage}\n`);
    else if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    }
  }
  if (options.exitWhenDone === true) process.exit();
}
