import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { StreamStorage } from './stream-storage.ts';

export interface Engine {
  endpoint: string;
  /**
   * The stream records in the engine's file, indexed; undefined for an engine this process did not
   * start, or whose file it does not recognise.
   */
  streamStorage?: StreamStorage | undefined;
  /** Stops the engine if this process started it; an external engine is left running. */
  stop(): Promise<void>;
}

/**
 * The local DynamoDB: `DYNAMODB_ENDPOINT` if set, else Dynoxide (the pinned `@dynoxide/linux-x64`
 * binary) on a free loopback port, keeping its data in `dbPath`, or in a temporary file removed when
 * it stops. (Dynoxide could keep it in memory, but then its stream could not be indexed: see
 * stream-storage.ts.)
 */
export async function startEngine(options: {
  endpoint?: string | undefined;
  dbPath?: string | undefined;
  log?: ((message: string, details?: Record<string, unknown>) => void) | undefined;
}): Promise<Engine> {
  if (options.endpoint !== undefined) {
    await waitUntilServing(options.endpoint, 10_000);
    return { endpoint: options.endpoint, stop: async () => undefined };
  }
  const binary = dynoxideBinary();
  let dbPath = options.dbPath;
  let temporary: string | undefined;
  if (dbPath === undefined) {
    temporary = mkdtempSync(join(tmpdir(), 'counter-engine-'));
    dbPath = join(temporary, 'engine.db');
  }
  const removeTemporary = () => {
    if (temporary !== undefined) rmSync(temporary, { recursive: true, force: true });
  };
  mkdirSync(dirname(dbPath), { recursive: true });
  const child = await spawnServing(binary, dbPath).catch((error: unknown) => {
    removeTemporary();
    throw error;
  });
  const stop = async () => {
    streamStorage?.close();
    await stopChild(child.process);
    removeTemporary();
  };
  let streamStorage: StreamStorage | undefined;
  try {
    // Serving means the engine has created its schema in the file; nothing else writes to it yet.
    streamStorage = StreamStorage.open(dbPath, options.log);
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint: child.endpoint, streamStorage, stop };
}

async function spawnServing(
  binary: string,
  dbPath: string,
): Promise<{ process: ChildProcess; endpoint: string }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const args = ['serve', '--host', '127.0.0.1', '--port', String(port), '--db-path', dbPath];
    const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const endpoint = `http://127.0.0.1:${port}`;
    try {
      await waitUntilServing(endpoint, 10_000, child);
      return { process: child, endpoint };
    } catch (error) {
      await stopChild(child);
      // Another process may have taken the port between our probe and the engine's bind.
      if (attempt >= 3) throw new Error(`the local engine did not start: ${String(error)} ${stderr.trim()}`);
    }
  }
}

/** The engine's binary, or an error that says what to do on a platform it is not built for. */
function dynoxideBinary(): string {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `The local engine (@dynoxide/linux-x64) runs on Linux x86-64 only, not ${process.platform}-${process.arch}. ` +
        'Set DYNAMODB_ENDPOINT to a DynamoDB-compatible endpoint with streams, such as DynamoDB Local ' +
        '(docs/local-server.md, "Other platforms").',
    );
  }
  return join(
    dirname(createRequire(import.meta.url).resolve('@dynoxide/linux-x64/package.json')),
    'dynoxide',
  );
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
