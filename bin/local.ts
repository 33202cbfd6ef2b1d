import { resolve } from 'node:path';
import { type LocalService, startLocalService } from '../lib/local/server.ts';

/**
 * `npm start`: the API on http://127.0.0.1:${PORT:-3000}, on a local engine whose data is kept in
 * LOCAL_DB_PATH (default .local/counters.db) unless DYNAMODB_ENDPOINT names another engine.
 */
const env = process.env;
process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
// CloudWatch metrics travel as one EMF log line per change; locally they would drown the output.
// POWERTOOLS_METRICS_DISABLED=false shows them.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

// Signal handlers first: a SIGTERM that arrives while starting, or right after the URL is printed,
// must still stop cleanly rather than kill the process with the engine still running.
let service: LocalService | undefined;
let stopping = false;
const stop = (signal: NodeJS.Signals) => {
  if (stopping) return;
  stopping = true;
  console.log(`Counter service stopping (${signal}) after the history batch in hand...`);
  (service?.stop() ?? Promise.resolve()).then(
    () => {
      console.log('Counter service stopped.');
      process.exit(0);
    },
    (error: unknown) => {
      console.error('stopping failed', error);
      process.exit(1);
    },
  );
};
let stopRequested: NodeJS.Signals | undefined;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (service === undefined) stopRequested = signal;
    else stop(signal);
  });
}

const idleSeconds = secondsFrom('LOCAL_IDLE_TIMEOUT_SECONDS');
service = await startLocalService({
  port: Number(env.PORT ?? 3000),
  host: env.HOST ?? '127.0.0.1',
  dbPath: resolve(env.LOCAL_DB_PATH ?? '.local/counters.db'),
  dynamodbEndpoint: env.DYNAMODB_ENDPOINT === '' ? undefined : env.DYNAMODB_ENDPOINT,
  deadLetterFile: resolve(env.LOCAL_DEAD_LETTERS ?? '.local/dead-letters.jsonl'),
  // The stack's historyBatchingWindow, in seconds: the local poller gathers changes as Lambda would.
  ...(env.HISTORY_BATCHING_WINDOW_SECONDS === undefined || env.HISTORY_BATCHING_WINDOW_SECONDS === ''
    ? {}
    : { stream: { batchingWindowSeconds: Number(env.HISTORY_BATCHING_WINDOW_SECONDS) } }),
  idleTimeoutMs: idleSeconds === undefined ? undefined : idleSeconds * 1000,
  corsAllowOrigins: env.LOCAL_CORS_ORIGINS?.split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin !== ''),
  log: (message, details) => console.error(JSON.stringify({ level: 'INFO', message, ...details })),
});

if (stopRequested !== undefined) stop(stopRequested);
else console.log(`Counter service listening on ${service.url} (engine ${service.engineEndpoint})`);

/** A positive number of seconds from the environment, if set. */
function secondsFrom(name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new Error(`${name} must be a positive number of seconds; got "${text}".`);
  }
  return seconds;
}
