import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';

export interface Engine {
  endpoint: string;
  /** Stops the engine if this process started it; an external engine is left running. */
  stop(): Promise<void>;
}

/**
 * The local DynamoDB: `DYNAMODB_ENDPOINT` if set, else Dynoxide (the pinned `@dynoxide/linux-x64`
 * binary) on a free loopback port, keeping its data in `dbPath` (in memory when undefined).
 */
export async function startEngine(options: {
  endpoint?: string | undefined;
  dbPath?: string | undefined;
}): Promise<Engine> {
  if (options.endpoint !== undefined) {
    await waitUntilServing(options.endpoint, 10_000);
    return { endpoint: options.endpoint, stop: async () => undefined };
  }
  const binary = join(
    dirname(createRequire(import.meta.url).resolve('@dynoxide/linux-x64/package.json')),
    'dynoxide',
  );
  if (options.dbPath !== undefined) mkdirSync(dirname(options.dbPath), { recursive: true });
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const args = ['serve', '--host', '127.0.0.1', '--port', String(port)];
    if (options.dbPath !== undefined) args.push('--db-path', options.dbPath);
    const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const endpoint = `http://127.0.0.1:${port}`;
    try {
      await waitUntilServing(endpoint, 10_000, child);
      return { endpoint, stop: () => stopChild(child) };
    } catch (error) {
      await stopChild(child);
      // Another process may have taken the port between our probe and the engine's bind.
      if (attempt >= 3) throw new Error(`the local engine did not start: ${String(error)} ${stderr.trim()}`);
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitUntilServing(endpoint: string, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (child !== undefined && child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  } finally {
    client.destroy();
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
