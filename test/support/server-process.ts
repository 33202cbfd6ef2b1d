import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REPO_ROOT = new URL('../../', import.meta.url).pathname;

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
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      PORT: '0',
      LOCAL_DB_PATH: join(dataDir, 'counters.db'),
      LOCAL_DEAD_LETTERS: join(dataDir, 'dead-letters.jsonl'),
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_REGION: 'us-east-1',
      DYNAMODB_ENDPOINT: '',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const [url, engineUrl] = await new Promise<[string, string]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s: ${stderr}`)), 30_000);
    child.stdout?.on('data', () => {
      const match = /listening on (http:\/\/[^\s]+) \(engine ([^\s)]+)\)/.exec(stdout);
      if (match?.[1] !== undefined && match[2] !== undefined) {
        clearTimeout(timer);
        resolve([match[1], match[2]]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before it was ready: ${stderr}`));
    });
  });
  return {
    url,
    engineUrl,
    child,
    dataDir,
    stdout: () => stdout,
    stderr: () => stderr,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
