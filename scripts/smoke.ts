import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { CounterClient, type HistoryEntry } from '../client/counter-client.ts';
import { credentialsFromEnv } from '../client/credentials.ts';
import { CounterApiError } from '../client/errors.ts';

const USAGE = `Usage: npm run smoke -- --url URL [options]

The original four scenarios against any deployment, on a counter of its own (smoke-<time>-<random>),
which it deletes at the end:
  the seed's GET /counter answers a number; a fresh counter reads 0; an increment gives +1; a set to
  10 reads 10; CLIENTS concurrent clients x PER-CLIENT increments end exact; the history eventually
  holds every version, each value the previous plus its delta.

Options:
  --url URL               the API (default $COUNTER_URL, else http://127.0.0.1:3000)
  --region REGION         the region to sign for (default $COUNTER_REGION, else from the URL,
                          else $AWS_REGION, else us-east-1)
  --clients N             concurrent clients (default 50)
  --per-client N          increments per client (default 20)
  --history-timeout S     seconds to wait for the history (default 60)
  -h, --help              show this help

Signs with COUNTER_ACCESS_KEY_ID/COUNTER_SECRET_ACCESS_KEY/COUNTER_SESSION_TOKEN when set, else with
the AWS default credential chain. Exits 0 when every scenario passed, 1 otherwise, 2 on bad usage.`;

interface Settings {
  url: string;
  region: string | undefined;
  clients: number;
  perClient: number;
  historyTimeoutMs: number;
}

class SmokeFailure extends Error {}

function check(condition: boolean, message: string): void {
  if (!condition) throw new SmokeFailure(message);
}

/** One run: the clients, the counter it owns, and how it is going. */
interface SmokeRun {
  settings: Settings;
  log: (line: string) => void;
  /** A new client, as each concurrent caller gets its own. */
  make: () => CounterClient;
  client: CounterClient;
  name: string;
  failures: number;
  /** Whether the counter exists by our doing, so the run deletes it. */
  created: boolean;
}

/** Runs the scenarios; resolves with the exit code. `log` receives the report, line by line. */
export async function smoke(settings: Settings, log: (line: string) => void): Promise<number> {
  const run = startRun(settings, log);
  log(`smoke test of ${run.client.url.href} (region ${run.client.region}) on counter ${run.name}`);
  try {
    await runScenarios(run);
  } finally {
    await cleanUp(run);
  }
  log(run.failures === 0 ? 'smoke test passed' : `smoke test FAILED: ${run.failures} failure(s)`);
  return run.failures === 0 ? 0 : 1;
}

function startRun(settings: Settings, log: (line: string) => void): SmokeRun {
  const credentials = credentialsFromEnv();
  const make = () =>
    new CounterClient({
      url: settings.url,
      ...(settings.region === undefined ? {} : { region: settings.region }),
      ...(credentials === undefined ? {} : { credentials }),
    });
  const name = `smoke-${Date.now()}-${randomBytes(4).toString('hex')}`;
  return { settings, log, make, client: make(), name, failures: 0, created: false };
}

async function runScenarios(run: SmokeRun): Promise<void> {
  const { clients, perClient } = run.settings;
  await scenario(run, 'GET /counter (the seed counter) answers 200 with a number', seedAnswersANumber);
  const fresh = await scenario(run, 'a fresh counter reads 0', freshCounterReadsZero);
  // The rest would change a counter that is not ours.
  if (!fresh) return;
  await scenario(run, 'an increment gives +1', incrementGivesOne);
  await scenario(run, 'a set to 10 reads 10', setReadsTen);
  await scenario(
    run,
    `${clients} concurrent clients x ${perClient} increments end exact`,
    concurrentIncrementsEndExact,
  );
  await scenario(run, 'the history eventually holds every version exactly once', historyHoldsEveryVersion);
}

/** Runs one scenario and reports it; true when it passed. */
async function scenario(
  run: SmokeRun,
  title: string,
  body: (run: SmokeRun) => Promise<string | undefined>,
): Promise<boolean> {
  const started = Date.now();
  try {
    const note = await body(run);
    run.log(`PASS  ${title} (${Date.now() - started} ms)${note === undefined ? '' : `: ${note}`}`);
    return true;
  } catch (error) {
    run.failures++;
    run.log(`FAIL  ${title} (${Date.now() - started} ms): ${messageOf(error)}`);
    return false;
  }
}

async function seedAnswersANumber({ client }: SmokeRun): Promise<string> {
  const answer = await client.request('GET', '/counter');
  const value: unknown =
    typeof answer.body === 'object' && answer.body !== null && 'value' in answer.body
      ? answer.body.value
      : undefined;
  check(answer.status === 200, `answered ${answer.status}: ${answer.text.slice(0, 200)}`);
  check(typeof value === 'number', `no numeric value in ${answer.text.slice(0, 200)}`);
  return `value ${String(value)}`;
}

/**
 * A name never written has no counter, so it answers 404: that is its 0 (only `default` answers 200
 * with 0). Writing 0 first would prove nothing about a fresh counter and add a history entry; the
 * increment that follows proves the counter started at 0 by ending at exactly 1, version 1.
 */
async function freshCounterReadsZero({ client, name }: SmokeRun): Promise<string> {
  try {
    const counter = await client.get(name);
    check(counter.value === 0, `reads ${counter.value}`);
    return 'answered 200 with 0';
  } catch (error) {
    if (error instanceof CounterApiError && error.status === 404) return 'absent (404), which is 0';
    throw error;
  }
}

async function incrementGivesOne(run: SmokeRun): Promise<undefined> {
  const after = await run.client.increment(run.name);
  run.created = true;
  check(after.value === 1 && after.version === 1, `answered value ${after.value} version ${after.version}`);
  const read = await run.client.get(run.name);
  check(read.value === 1, `then reads ${read.value}`);
  return undefined;
}

async function setReadsTen(run: SmokeRun): Promise<undefined> {
  const after = await run.client.set(run.name, 10);
  run.created = true;
  check(after.value === 10, `answered value ${after.value}`);
  const read = await run.client.get(run.name);
  check(read.value === 10, `then reads ${read.value}`);
  return undefined;
}

async function concurrentIncrementsEndExact(run: SmokeRun): Promise<string> {
  const { client, name } = run;
  const { clients, perClient } = run.settings;
  const total = clients * perClient;
  const start = await client.get(name);
  const versions: number[] = [];
  const began = Date.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      const own = run.make();
      for (let i = 0; i < perClient; i++) versions.push((await own.increment(name)).version);
    }),
  );
  run.created = true;
  const seconds = (Date.now() - began) / 1000;
  const after = await client.get(name);
  check(
    new Set(versions).size === total,
    `${total} increments saw ${new Set(versions).size} distinct versions`,
  );
  check(
    after.value === start.value + total && after.version === start.version + total,
    `expected value ${start.value + total} version ${start.version + total}, ` +
      `found value ${after.value} version ${after.version}`,
  );
  return `value ${after.value} at version ${after.version}, ${Math.round(total / seconds)} increments/s`;
}

async function historyHoldsEveryVersion({ client, name, settings }: SmokeRun): Promise<string> {
  const final = await client.get(name);
  const entries = await historyOnceComplete(client, name, final.version, settings.historyTimeoutMs);
  check(
    entries.length === final.version,
    `${entries.length} entries for ${final.version} versions after ${settings.historyTimeoutMs / 1000} s`,
  );
  entries.forEach((entry, index) => {
    const previous = index === 0 ? 0 : (entries[index - 1]?.value ?? Number.NaN);
    check(entry.version === index + 1, `entry ${index + 1} has version ${entry.version}`);
    check(
      entry.value === previous + entry.delta,
      `version ${entry.version}: ${previous} + ${entry.delta} is not ${entry.value}`,
    );
  });
  check(entries.at(-1)?.value === final.value, `the last entry's value is not the counter's ${final.value}`);
  const ops = entries.map((entry) => entry.op);
  check(ops[0] === 'increment' && ops[1] === 'set', `the first two ops are ${ops.slice(0, 2).join(', ')}`);
  return `versions 1..${final.version}`;
}

/** The history, read again every half second until it holds `versions` entries or time is up. */
async function historyOnceComplete(
  client: CounterClient,
  name: string,
  versions: number,
  timeoutMs: number,
): Promise<HistoryEntry[]> {
  const deadline = Date.now() + timeoutMs;
  let entries: HistoryEntry[] = [];
  while (Date.now() < deadline) {
    entries = [];
    for await (const entry of client.history(name, { limit: 1000 })) entries.push(entry);
    if (entries.length >= versions) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return entries;
}

async function cleanUp(run: SmokeRun): Promise<void> {
  if (!run.created) return;
  try {
    await run.client.delete(run.name);
    run.log(`cleaned up ${run.name}`);
  } catch (error) {
    run.failures++;
    run.log(`FAIL  cleanup of ${run.name}: ${messageOf(error)}`);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function positive(text: string | undefined, fallback: number, what: string): number {
  if (text === undefined) return fallback;
  if (!/^[1-9][0-9]*$/.test(text))
    throw new Error(`${what} must be a whole number of 1 or more; got ${text}`);
  return Number(text);
}

/** The settings from the command line and the environment; undefined for --help. */
function parseSettings(): Settings | undefined {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      region: { type: 'string' },
      clients: { type: 'string' },
      'per-client': { type: 'string' },
      'history-timeout': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) return undefined;
  return {
    url: values.url ?? process.env.COUNTER_URL ?? 'http://127.0.0.1:3000',
    region: values.region ?? process.env.COUNTER_REGION,
    clients: positive(values.clients, 50, '--clients'),
    perClient: positive(values['per-client'], 20, '--per-client'),
    historyTimeoutMs: positive(values['history-timeout'], 60, '--history-timeout') * 1000,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  let settings: Settings | undefined;
  try {
    settings = parseSettings();
  } catch (error) {
    console.error(`smoke: ${messageOf(error)}\n\n${USAGE}`);
    process.exit(2);
  }
  if (settings === undefined) {
    console.log(USAGE);
    process.exit(0);
  }
  process.exitCode = await smoke(settings, (line) => console.log(line));
}
