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
const stop = () => {
  if (stopping) return;
  stopping = true;
  (service?.stop() ?? Promise.resolve()).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error('stopping failed', error);
      process.exit(1);
    },
  );
};
let stopRequested = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (service === undefined) stopRequested = true;
    else stop();
  });
}

service = await startLocalService({
  port: Number(env.PORT ?? 3000),
  host: env.HOST ?? '127.0.0.1',
  dbPath: resolve(env.LOCAL_DB_PATH ?? '.local/counters.db'),
  dynamodbEndpoint: env.DYNAMODB_ENDPOINT === '' ? undefined : env.DYNAMODB_ENDPOINT,
  deadLetterFile: resolve(env.LOCAL_DEAD_LETTERS ?? '.local/dead-letters.jsonl'),
  // The change events the stack's `changeEvents` would publish (docs/events.md); empty: none.
  eventsFile:
    env.LOCAL_EVENTS_FILE === '' ? undefined : resolve(env.LOCAL_EVENTS_FILE ?? '.local/events.jsonl'),
  // The stack's historyBatchingWindow, in seconds: the local poller gathers changes as Lambda would.
  ...(env.HISTORY_BATCHING_WINDOW_SECONDS === undefined || env.HISTORY_BATCHING_WINDOW_SECONDS === ''
    ? {}
    : { stream: { batchingWindowSeconds: Number(env.HISTORY_BATCHING_WINDOW_SECONDS) } }),
  corsAllowOrigins: env.LOCAL_CORS_ORIGINS?.split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin !== ''),
  log: (message, details) => console.error(JSON.stringify({ level: 'INFO', message, ...details })),
});

if (stopRequested) stop();
else console.log(`Counter service listening on ${service.url} (engine ${service.engineEndpoint})`);
