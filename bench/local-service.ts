import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type LocalService, startLocalService } from '../lib/local/server.ts';

/** Long enough that the local service's stream poller, idle at start, never wakes during a run. */
const POLLER_ASLEEP_MS = 24 * 60 * 60 * 1000;
const POLLER_SETTLE_MS = 1000;

export interface BenchService {
  service: LocalService;
  /**
   * The variables the local server gives the handlers (table names, region, credentials, the
   * engine's endpoint), whatever tables the current code needs: the local server knows them, so the
   * benchmarks never keep their own list that could fall behind.
   */
  handlerEnvironment: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * The local service in this process, used only for its engine and its tables (a temporary file, a
 * fresh prefix). Its stream poller finds nothing at start and then sleeps, so no history is written in the
 * background while this process measures its own CPU time; the capacity section calls the consumer
 * itself, in its own time.
 */
export async function startBenchService(): Promise<BenchService> {
  const before = { ...process.env };
  const dir = await mkdtemp(path.join(tmpdir(), 'counter-bench-'));
  const service = await startLocalService({
    port: 0,
    tablePrefix: `bench-${randomUUID().slice(0, 8)}`,
    deadLetterFile: path.join(dir, 'dead-letters.jsonl'),
    stream: { idleMs: POLLER_ASLEEP_MS },
  });
  // The poller's first look at the stream is under way as the service returns; once it has found
  // nothing it sleeps. Nothing is written before this wait is over.
  await new Promise((resolve) => setTimeout(resolve, POLLER_SETTLE_MS));
  const handlerEnvironment: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && before[name] !== value) handlerEnvironment[name] = value;
  }
  return {
    service,
    handlerEnvironment,
    stop: async () => {
      await service.stop();
      // The local server set the handlers' variables on this process; later sections start clean.
      for (const name of Object.keys(handlerEnvironment)) {
        const value = before[name];
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    },
  };
}

/** Sets `variables` for the duration of `work`, then puts back what was there. */
export async function withEnvironment<T>(
  variables: Record<string, string>,
  work: () => Promise<T>,
): Promise<T> {
  const saved = new Map(Object.keys(variables).map((name) => [name, process.env[name]]));
  Object.assign(process.env, variables);
  try {
    return await work();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}
