import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { runInRepo } from './repo-process.ts';

/** Where the system's Chromium is: Debian's `chromium` package, unless CHROMIUM_PATH says otherwise. */
export function chromiumPath(): string {
  const path = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (!existsSync(path)) {
    // A missing browser fails the browser tests loudly; they are never skipped.
    throw new Error(
      `Chromium not found at ${path}: install it (apt-get install -y chromium; .ci/run does) ` +
        'or set CHROMIUM_PATH to a Chromium or Chrome executable',
    );
  }
  return path;
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Headless Chromium with a fresh profile, none of its background calls out (the network is closed). */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = chromiumPath();
  const profile = mkdtempSync(join(tmpdir(), 'counter-console-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1200, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export interface ConsoleProcess {
  url: string;
  child: ChildProcess;
  stderr: () => string;
  /** Ctrl-C, as a person stops it; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** `counter console --port 0` against `apiUrl`, as a person starts it; resolves once it prints its address. */
export async function startConsoleProcess(apiUrl: string): Promise<ConsoleProcess> {
  const { child, exited, stdout, stderr } = runInRepo(process.execPath, [
    '--import',
    'tsx',
    'bin/counter-cli.ts',
    '--url',
    apiUrl,
    'console',
    '--port',
    '0',
  ]);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the console did not start in 30 s: ${stderr()}`)),
      30_000,
    );
    child.stdout?.on('data', () => {
      const match = /console on (http:\/\/\S+)/.exec(stdout());
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the console exited with ${code} before it was ready: ${stderr()}`));
    });
  });
  return {
    url,
    child,
    stderr,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      return exited;
    },
  };
}
