import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type Counter, CounterClient, type HistoryEntry } from '../client/counter-client.ts';
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

/** Runs the scenarios; resolves with the exit code. `log` receives the report, line by line. */
export async function smoke(settings: Settings, log: (line: string) => void): Promise<number> {
  const credentials = credentialsFromEnv();
  const make = () =>
    new CounterClient({
      url: settings.url,
      ...(settings.region === undefined ? {} : { region: settings.region }),
      ...(credentials === undefined ? {} : { credentials }),
    });
  const client = make();
  const name = `smoke-${Date.now()}-${randomBytes(4).toString('hex')}`;
  const total = settings.clients * settings.perClient;
  let failures = 0;
  let created = false;

  const scenario = async (title: string, body: () => Promise<string | undefined>): Promise<boolean> => {
    const started = Date.now();
    try {
      const note = await body();
      log(`PASS  ${title} (${Date.now() - started} ms)${note === undefined ? '' : `: ${note}`}`);
      return true;
    } catch (error) {
      failures++;
      log(
        `FAIL  ${title} (${Date.now() - started} ms): ${error instanceof Error ? error.message : String(error)}`,
      );
      return false;
    }
  };

  log(`smoke test of ${client.url.href} (region ${client.region}) on counter ${name}`);
  try {
    await scenario('GET /counter (the seed counter) answers 200 with a number', async () => {
      const answer = await client.request('GET', '/counter');
      const value: unknown =
        typeof answer.body === 'object' && answer.body !== null && 'value' in answer.body
          ? answer.body.value
          : undefined;
      check(answer.status === 200, `answered ${answer.status}: ${answer.text.slice(0, 200)}`);
      check(typeof value === 'number', `no numeric value in ${answer.text.slice(0, 200)}`);
      return `value ${String(value)}`;
    });

    // A name never written has no counter, so it answers 404: that is its 0 (only `default` answers
    // 200 with 0). Writing 0 first would prove nothing about a fresh counter and add a history entry;
    // the increment below proves the counter started at 0 by ending at exactly 1, version 1.
    const fresh = await scenario('a fresh counter reads 0', async () => {
      try {
        const counter = await client.get(name);
        check(counter.value === 0, `reads ${counter.value}`);
        return 'answered 200 with 0';
      } catch (error) {
        if (error instanceof CounterApiError && error.status === 404) return 'absent (404), which is 0';
        throw error;
      }
    });
    // The rest would change a counter that is not ours.
    if (fresh) {
      await scenario('an increment gives +1', async () => {
        const after = await client.increment(name);
        created = true;
        check(
          after.value === 1 && after.version === 1,
          `answered value ${after.value} version ${after.version}`,
        );
        const read = await client.get(name);
        check(read.value === 1, `then reads ${read.value}`);
        return undefined;
      });

      await scenario('a set to 10 reads 10', async () => {
        const after = await client.set(name, 10);
        created = true;
        check(after.value === 10, `answered value ${after.value}`);
        const read = await client.get(name);
        check(read.value === 10, `then reads ${read.value}`);
        return undefined;
      });

      let before: Counter | undefined;
      await scenario(
        `${settings.clients} concurrent clients x ${settings.perClient} increments end exact`,
        async () => {
          before = await client.get(name);
          const start = before;
          const versions: number[] = [];
          const began = Date.now();
          await Promise.all(
            Array.from({ length: settings.clients }, async () => {
              const own = make();
              for (let i = 0; i < settings.perClient; i++) versions.push((await own.increment(name)).version);
            }),
          );
          created = true;
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
        },
      );

      await scenario('the history eventually holds every version exactly once', async () => {
        const final = await client.get(name);
        const deadline = Date.now() + settings.historyTimeoutMs;
        let entries: HistoryEntry[] = [];
        while (Date.now() < deadline) {
          entries = [];
          for await (const entry of client.history(name, { limit: 1000 })) entries.push(entry);
          if (entries.length >= final.version) break;
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
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
        check(
          entries.at(-1)?.value === final.value,
          `the last entry's value is not the counter's ${final.value}`,
        );
        const ops = entries.map((entry) => entry.op);
        check(
          ops[0] === 'increment' && ops[1] === 'set',
          `the first two ops are ${ops.slice(0, 2).join(', ')}`,
        );
        return `versions 1..${final.version}`;
      });
    }
  } finally {
    if (created) {
      try {
        await client.delete(name);
        log(`cleaned up ${name}`);
      } catch (error) {
        failures++;
        log(`FAIL  cleanup of ${name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  log(failures === 0 ? 'smoke test passed' : `smoke test FAILED: ${failures} failure(s)`);
  return failures === 0 ? 0 : 1;
}

function positive(text: string | undefined, fallback: number, what: string): number {
  if (text === undefined) return fallback;
  if (!/^[1-9][0-9]*$/.test(text))
    throw new Error(`${what} must be a whole number of 1 or more; got ${text}`);
  return Number(text);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  let settings: Settings;
  try {
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
    if (values.help === true) {
      console.log(USAGE);
      process.exit(0);
    }
    settings = {
      url: values.url ?? process.env.COUNTER_URL ?? 'http://127.0.0.1:3000',
      region: values.region ?? process.env.COUNTER_REGION,
      clients: positive(values.clients, 50, '--clients'),
      perClient: positive(values['per-client'], 20, '--per-client'),
      historyTimeoutMs: positive(values['history-timeout'], 60, '--history-timeout') * 1000,
    };
  } catch (error) {
    console.error(`smoke: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    process.exit(2);
  }
  process.exitCode = await smoke(settings, (line) => console.log(line));
}
