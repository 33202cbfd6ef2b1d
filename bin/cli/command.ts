import type { Readable, Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type { ChangeOptions, CounterClient, CounterClientOptions } from '../../client/counter-client.ts';
import type { ProgressStream } from '../../client/progress.ts';
import type { CliOptions } from './arguments.ts';

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

/** What every command is run with. */
export interface CommandContext {
  io: CliIo;
  client: CounterClient;
  options: CliOptions;
  /** --if-match and --idempotency-key, for the commands that change a counter. */
  change: ChangeOptions;
  /** The command's own arguments, after its name. */
  args: string[];
  /** --json: machine output. */
  json: boolean;
  /** A line to stdout, respecting back-pressure. */
  write: (line: string) => Promise<void>;
  /** A line to stderr. */
  say: (text: string) => void;
}

/** A command; resolves with the exit code. */
export type Command = (context: CommandContext) => Promise<number>;

/** The signal that ends a command that runs until stopped; one that never aborts outside a terminal. */
export function stopSignal(io: CliIo): AbortSignal {
  return io.untilStopped?.() ?? new AbortController().signal;
}

/** Waits `ms`, or less when the signal aborts first. */
export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  await delay(ms, undefined, { signal }).catch(() => undefined);
}
