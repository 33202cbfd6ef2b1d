import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type Api, api } from './api.ts';
import { runInRepo } from './repo-process.ts';

export interface ServerProcess {
  url: string;
  /** The local engine's endpoint, as the server printed it. */
  engineUrl: string;
  child: ChildProcess;
  /** Everything the server wrote to stdout and to stderr so far. */
  stdout: () => string;
  stderr: () => string;
  dataDir: string;
  /** Sends the signal and waits for the process to exit; resolves with its exit code. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/**
 * Starts `bin/local.ts` (what `npm start` runs) in its own process on a free port, with its data in a
 * fresh directory unless `dataDir` is given, and waits until it prints its URL. With `npmStart`, the
 * process is `npm start` itself (its `prestart` included), as a user or a process manager starts it.
 */
export async function startServer(
  options: { env?: Record<string, string>; dataDir?: string; npmStart?: boolean } = {},
): Promise<ServerProcess> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'counter-service-'));
  const [command, args] =
    options.npmStart === true
      ? ['npm', ['start', '--silent']]
      : [process.execPath, ['--import', 'tsx', 'bin/local.ts']];
  const { child, exited, stdout, stderr } = runInRepo(command, args, {
    env: {
      PORT: '0',
      LOCAL_DB_PATH: join(dataDir, 'counters.db'),
      LOCAL_DEAD_LETTERS: join(dataDir, 'dead-letters.jsonl'),
      LOCAL_EVENTS_FILE: join(dataDir, 'events.jsonl'),
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      DYNAMODB_ENDPOINT: '',
      ...options.env,
    },
  });
  const [url, engineUrl] = await new Promise<[string, string]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s: ${stderr()}`)), 30_000);
    child.stdout?.on('data', () => {
      const match = /listening on (http:\/\/[^\s]+) \(engine ([^\s)]+)\)/.exec(stdout());
      if (match?.[1] !== undefined && match[2] !== undefined) {
        clearTimeout(timer);
        resolve([match[1], match[2]]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before it was ready: ${stderr()}`));
    });
  });
  return {
    url,
    engineUrl,
    child,
    dataDir,
    stdout,
    stderr,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export type ServerOptions = Parameters<typeof startServer>[0];

/** A server that `useServer` starts before a file's (or a describe block's) tests and stops after them. */
export interface ServerHandle {
  /** The server's URL; read it in a test or a hook, not while the file is being collected. */
  readonly url: string;
  /** The running process (its output, data directory, `stop`). */
  readonly process: ServerProcess;
  /** A signed client (test/support/api.ts) for this server, usable as soon as the server has started. */
  readonly client: Api;
}

/**
 * Starts a server in `beforeAll` and stops it in `afterAll` of the enclosing describe block (or file),
 * with `stopSignal` (SIGTERM unless said). `options` may be a function, called in `beforeAll`, for
 * settings that exist only once earlier hooks have run (a principals file, an engine's endpoint).
 */
export function useServer(
  options: ServerOptions | (() => ServerOptions | Promise<ServerOptions>) = {},
  stopSignal: NodeJS.Signals = 'SIGTERM',
): ServerHandle {
  let started: ServerProcess | undefined;
  const running = (): ServerProcess => {
    if (started === undefined) throw new Error('the server is used before beforeAll started it');
    return started;
  };
  beforeAll(async () => {
    started = await startServer(typeof options === 'function' ? await options() : options);
  });
  afterAll(async () => {
    await started?.stop(stopSignal);
  });
  const client = api(() => running().url);
  return {
    get url() {
      return running().url;
    },
    get process() {
      return running();
    },
    client,
  };
}

/**
 * Servers started inside tests, each stopped in `afterEach` with `stopSignal`: `start(options)` starts
 * one with `defaults` (a function is called at each start) under `options`, their `env` merged.
 */
export function useServers(
  stopSignal: NodeJS.Signals,
  defaults: () => ServerOptions = () => ({}),
): (options?: ServerOptions) => Promise<ServerProcess> {
  const started: ServerProcess[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((server) => server.stop(stopSignal)));
  });
  return async (options = {}) => {
    const base = defaults();
    const server = await startServer({ ...base, ...options, env: { ...base?.env, ...options?.env } });
    started.push(server);
    return server;
  };
}
