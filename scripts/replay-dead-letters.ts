import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import { startEngine } from '../lib/local/engine.ts';
import { EventsFilePublisher } from '../lib/local/events-file.ts';
import { localTableNames } from '../lib/local/table-names.ts';
import { type FileOutcome, replayFile } from './dead-letters/replay-file.ts';
import { type Outcome, replayQueue } from './dead-letters/replay-queue.ts';

const USAGE = `Usage: npm run replay-dead-letters -- --queue-url URL --function NAME [options]
       npm run replay-dead-letters -- --local [--file PATH]

Replays the history consumer's dead letters: the stream batches it gave up on, which leave a gap in
some counters' history until replayed. Each batch goes through the consumer again, in order; writing
history twice is harmless (every entry is written only if absent). See docs/operations.md.

On AWS (the stack's outputs HistoryDeadLetterQueueUrl and HistoryConsumerFunctionName):
  --queue-url URL     the history dead-letter queue
  --function NAME     the deployed history consumer, invoked with each batch (its code, its role)
  --region REGION     default: the queue URL's region, else $AWS_REGION
  --dry-run           only say which batches the stream still holds; invoke and delete nothing
  --discard-gone      delete the messages whose records the stream no longer holds (a gap accepted)
  --max N             handle at most N messages
  A message is deleted only after the consumer reported no failure for all of its records. Records
  no longer in the stream (it keeps them 24 hours) are reported GONE and their message kept.

Locally (npm start):
  --local             replay $LOCAL_DEAD_LETTERS (default .local/dead-letters.jsonl), whose lines
                      hold the records themselves, through functions/stream/record-history.ts, and
                      remove the lines replayed
  --file PATH         another dead-letter file
  The engine: $DYNAMODB_ENDPOINT (with npm start running, the engine address it printed), else one
  started here on $LOCAL_DB_PATH (default .local/counters.db). Tables: $HISTORY_TABLE and
  $ROLLUPS_TABLE, default counter-service-history and counter-service-rollups. Change events go to
  $LOCAL_EVENTS_FILE (default .local/events.jsonl; empty: none), as npm start writes them.

  -h, --help          show this help

Exits 0 when every message was replayed (or there was none), 1 when any was kept, 2 on bad usage.`;

class UsageError extends Error {}

type Settings =
  | {
      mode: 'aws';
      queueUrl: string;
      functionName: string;
      region: string | undefined;
      dryRun: boolean;
      discardGone: boolean;
      maxMessages: number | undefined;
    }
  | { mode: 'local'; file: string };

export function parseSettings(args: string[], env: NodeJS.ProcessEnv): Settings | 'help' {
  const { values } = parseArgs({
    args,
    options: {
      'queue-url': { type: 'string' },
      function: { type: 'string' },
      region: { type: 'string' },
      'dry-run': { type: 'boolean' },
      'discard-gone': { type: 'boolean' },
      max: { type: 'string' },
      local: { type: 'boolean' },
      file: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) return 'help';
  if (values.local === true) {
    const awsOnly = ['queue-url', 'function', 'region', 'dry-run', 'discard-gone', 'max'] as const;
    const given = awsOnly.filter((name) => values[name] !== undefined);
    if (given.length > 0) throw new UsageError(`--local takes none of --${given.join(', --')}`);
    return {
      mode: 'local',
      file: resolve(values.file ?? env.LOCAL_DEAD_LETTERS ?? '.local/dead-letters.jsonl'),
    };
  }
  if (values.file !== undefined) throw new UsageError('--file is for --local');
  const queueUrl = values['queue-url'];
  const functionName = values.function;
  if (queueUrl === undefined || !/^https:\/\/\S+$/.test(queueUrl)) {
    throw new UsageError('--queue-url must be the queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)');
  }
  if (functionName === undefined || functionName === '') throw new UsageError('--function is required');
  if (values.max !== undefined && !/^[1-9][0-9]*$/.test(values.max)) {
    throw new UsageError(`--max must be a whole number of 1 or more; got ${values.max}`);
  }
  return {
    mode: 'aws',
    queueUrl,
    functionName,
    region: values.region ?? /^https:\/\/sqs\.([a-z0-9-]+)\./.exec(queueUrl)?.[1] ?? env.AWS_REGION,
    dryRun: values['dry-run'] === true,
    discardGone: values['discard-gone'] === true,
    maxMessages: values.max === undefined ? undefined : Number(values.max),
  };
}

async function replayOnAws(settings: Extract<Settings, { mode: 'aws' }>, log: (line: string) => void) {
  const config = settings.region === undefined ? {} : { region: settings.region };
  const clients = {
    sqs: new SQSClient(config),
    streams: new DynamoDBStreamsClient(config),
    lambda: new LambdaClient(config),
  };
  try {
    return await replayQueue(clients, {
      queueUrl: settings.queueUrl,
      functionName: settings.functionName,
      dryRun: settings.dryRun,
      discardGone: settings.discardGone,
      ...(settings.maxMessages === undefined ? {} : { maxMessages: settings.maxMessages }),
      log,
    });
  } finally {
    for (const client of Object.values(clients)) client.destroy();
  }
}

async function replayLocally(file: string, env: NodeJS.ProcessEnv, log: (line: string) => void) {
  const endpoint = env.DYNAMODB_ENDPOINT === '' ? undefined : env.DYNAMODB_ENDPOINT;
  if (endpoint === undefined && (await localServerAnswers(env))) {
    throw new UsageError(
      `the local server (npm start) answers on port ${env.PORT ?? 3000}: pass DYNAMODB_ENDPOINT=<the engine ` +
        'address it printed> to replay through its engine, or stop it first (two engines on one data file ' +
        'would not see each other).',
    );
  }
  const engine = await startEngine({
    endpoint,
    dbPath: endpoint === undefined ? resolve(env.LOCAL_DB_PATH ?? '.local/counters.db') : undefined,
  });
  try {
    const tables = localTableNames();
    // The consumer reads its configuration from the environment at import, as on Lambda.
    Object.assign(process.env, {
      AWS_REGION: env.AWS_REGION ?? 'us-east-1',
      AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID ?? 'local',
      AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY ?? 'local',
      DYNAMODB_ENDPOINT: engine.endpoint,
      HISTORY_TABLE: env.HISTORY_TABLE ?? tables.history,
      ROLLUPS_TABLE: env.ROLLUPS_TABLE ?? tables.rollups,
      // Not the consumer's today; given as npm start gives them, should it come to need them.
      COUNTERS_TABLE: env.COUNTERS_TABLE ?? tables.counters,
      IDEMPOTENCY_TABLE: env.IDEMPOTENCY_TABLE ?? tables.idempotency,
      POWERTOOLS_LOG_LEVEL: env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
      POWERTOOLS_METRICS_DISABLED: env.POWERTOOLS_METRICS_DISABLED ?? 'true',
    });
    // The consumer (lib/routes.ts HISTORY_CONSUMER.entry), imported only now that its environment is set.
    const { consumer } = await import('../functions/stream/record-history.ts');
    // Its change events go where npm start writes them (docs/events.md).
    const eventsFile =
      env.LOCAL_EVENTS_FILE === '' ? undefined : resolve(env.LOCAL_EVENTS_FILE ?? '.local/events.jsonl');
    const handler = consumer(eventsFile === undefined ? undefined : new EventsFilePublisher(eventsFile));
    return await replayFile(file, handler, log);
  } finally {
    await engine.stop();
  }
}

async function localServerAnswers(env: NodeJS.ProcessEnv): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${env.PORT ?? 3000}/health`, {
      signal: AbortSignal.timeout(1000),
    });
    return response.ok;
  } catch {
    return false;
  }
}

/** Runs the command; resolves with its exit code. */
export async function main(
  args: string[],
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
  logError: (line: string) => void = (line) => console.error(line),
): Promise<number> {
  let settings: Settings | 'help';
  try {
    settings = parseSettings(args, env);
  } catch (error) {
    logError(`replay-dead-letters: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return 2;
  }
  if (settings === 'help') {
    log(USAGE);
    return 0;
  }
  let outcomes: Array<Outcome | FileOutcome>;
  try {
    outcomes =
      settings.mode === 'aws'
        ? await replayOnAws(settings, log)
        : await replayLocally(settings.file, env, log);
  } catch (error) {
    logError(`replay-dead-letters: ${error instanceof Error ? error.message : String(error)}`);
    return error instanceof UsageError ? 2 : 1;
  }
  const count = (test: (outcome: Outcome | FileOutcome) => boolean) => outcomes.filter(test).length;
  const replayed = count(({ kind }) => kind === 'replayed');
  const replayable = count(({ kind }) => kind === 'replayable');
  const discarded = count((outcome) => outcome.kind === 'gone' && outcome.discarded);
  const kept = outcomes.length - replayed - replayable - discarded;
  if (outcomes.length === 0) {
    log('no dead letters');
    return 0;
  }
  const parts = [
    `${replayed} replayed`,
    ...(replayable > 0 ? [`${replayable} replayable (dry run)`] : []),
    ...(discarded > 0 ? [`${discarded} discarded`] : []),
    `${kept} kept`,
  ];
  log(`${outcomes.length} dead letter(s): ${parts.join(', ')}`);
  return kept === 0 ? 0 : 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // Exit explicitly: the consumer's clients may hold idle connections open.
  process.exit(await main(process.argv.slice(2), process.env, (line) => console.log(line)));
}
