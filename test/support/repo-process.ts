import { type ChildProcess, spawn } from 'node:child_process';
import { REPO_ROOT } from '../../lib/repo-root.ts';

/** The local server's credentials and region, as a user's shell holds them while it runs. */
export const LOCAL_AWS_ENV = {
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
  AWS_REGION: 'us-east-1',
};

export interface RepoProcess {
  child: ChildProcess;
  /** Resolves with the exit code (null when a signal ended it); rejects when it could not start. */
  exited: Promise<number | null>;
  /** Everything it wrote to stdout and to stderr so far (when piped). */
  stdout: () => string;
  stderr: () => string;
}

/**
 * Runs `command` in the repository as a user would type it there: this process's environment, the
 * local credentials (LOCAL_AWS_ENV), then `env`. Its stdout and stderr are piped and kept, unless
 * `stdin`/`stdout` name a file descriptor (or 'ignore').
 */
export function runInRepo(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; stdin?: number | 'ignore'; stdout?: number | 'ignore' } = {},
): RepoProcess {
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...LOCAL_AWS_ENV, ...options.env },
    stdio: [options.stdin ?? 'ignore', options.stdout ?? 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });
  // A caller that never awaits `exited` (it stops the process another way) must not leave it unhandled.
  exited.catch(() => undefined);
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}
