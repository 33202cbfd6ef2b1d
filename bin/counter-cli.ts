#!/usr/bin/env -S npx tsx
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { CounterClient } from '../client/counter-client.ts';
import { credentialsFromEnv } from '../client/credentials.ts';
import { lineWriter } from '../client/export.ts';
import { type CliOptions, parseCommandLine, UsageError, version } from './cli/arguments.ts';
import type { CliIo, Command } from './cli/command.ts';
import { consoleCommand } from './cli/console-command.ts';
import { getCommand, incCommand, lsCommand, rmCommand, setCommand } from './cli/counter-commands.ts';
import { EXIT, exitCodeOf } from './cli/exit-codes.ts';
import { historyCommand, seriesCommand, watchCommand } from './cli/history-commands.ts';
import { exportCommand, importCommand } from './cli/transfer-commands.ts';
import { USAGE } from './cli/usage.ts';

const COMMANDS: Record<string, Command> = {
  get: getCommand,
  inc: incCommand,
  set: setCommand,
  rm: rmCommand,
  ls: lsCommand,
  history: historyCommand,
  series: seriesCommand,
  watch: watchCommand,
  console: consoleCommand,
  export: exportCommand,
  import: importCommand,
};

/** Runs one command; resolves with the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const say = (text: string) => io.stderr.write(`${text}\n`);
  try {
    const { values: options, positionals } = parseCommandLine(argv);
    if (options.help === true) {
      io.stdout.write(`${USAGE}\n`);
      return EXIT.ok;
    }
    const [name, ...args] = positionals;
    if (name === undefined) throw new UsageError('no command given');
    const client = clientFor(options, io);
    const change = {
      ...(options['if-match'] === undefined ? {} : { ifMatch: version(options['if-match']) }),
      ...(options['idempotency-key'] === undefined ? {} : { idempotencyKey: options['idempotency-key'] }),
    };
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (command === undefined) throw new UsageError(`unknown command "${name}"`);
    const write = lineWriter(io.stdout);
    return await command({ io, client, options, change, args, json: options.json === true, write, say });
  } catch (error) {
    return exitCodeOf(error, say);
  }
}

/** The client for --url and --region, signing with the credentials the environment names. */
function clientFor(options: CliOptions, io: CliIo): CounterClient {
  // An empty COUNTER_URL is as good as none; an empty --url is a variable that was not set.
  const url = options.url ?? (io.env.COUNTER_URL || 'http://127.0.0.1:3000');
  if (url.trim() === '') {
    throw new UsageError(
      '--url is empty (was the variable given to it unset?); give the API URL, such as the stack ' +
        'output CounterService.ApiUrl, or leave --url out for http://127.0.0.1:3000',
    );
  }
  if (!URL.canParse(url)) throw new UsageError(`--url ${url} is not a URL`);
  const region = options.region ?? (io.env.AWS_REGION || undefined);
  const credentials = credentialsFromEnv(io.env);
  return (io.makeClient ?? ((clientOptions) => new CounterClient(clientOptions)))({
    url,
    ...(region === undefined ? {} : { region }),
    ...(credentials === undefined ? {} : { credentials }),
  });
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
