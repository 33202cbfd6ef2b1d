/**
 * Issue 13's benchmark: is the local server as fast on a long-lived store as on a fresh one?
 *
 *   npm run bench:local-store [-- --changes N] [--seconds S] [--connections C] [--lag-rate R]
 *                                [--lag-seconds T] [--quick] [--out FILE]
 *
 * Starts the local server as `npm start` runs it (`bin/local.ts` in its own process, its engine
 * keeping a file) on a fresh store, then, in one run:
 *   1. fresh: plain increments (`POST /counters/{name}`, one counter per connection) from C keep-alive
 *      connections for S seconds, after a 2 s warm-up;
 *   2. grows the store with the same load until it holds N changes (100,000), and waits until the
 *      history consumer has caught up, so the next phase does not also pay for its backlog;
 *   3. grown: the same increments for S seconds in all, in 4 turns with a second server on a fresh
 *      store (the same load, S seconds in all): the figure is grown / fresh increments a second,
 *      measured in turns so that the machine's load, which drifts during a long growth, falls on both;
 *   4. lag: R increments a second (100) on one counter for T seconds, each the moment its turn comes
 *      (not when the last was answered); for each, the time from its answer until its history entry
 *      shows (`GET .../history?since=`, polled every 100 ms): p50, p90, p99. The contract's local
 *      bound is 5 s.
 * Prints a Markdown summary; `--out FILE` also writes the figures as JSON. `--quick` (20,000 changes,
 * 5 s phases, 10 s of lag) is a smoke run, not figures to quote. Not part of `npm test`: a full run
 * takes several minutes and its figures depend on the machine.
 */
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { type ServerProcess, startServer } from '../test/support/server-process.ts';
import { CommandLine, isEntryPoint, progressLog, runEntryPoint } from './cli.ts';
import { LoadDriver, type RawPhase } from './load-driver.ts';
import { measureLag, waitForHistory } from './local-store-lag.ts';
import { figures, figuresOfRounds, type LocalStoreReport, localStoreMarkdown } from './local-store-report.ts';
import { codeVersion, commandOf, engineVersion, machineAtEnd } from './provenance.ts';
import { jsonText, writeReportFiles } from './report-files.ts';
import { ratio } from './stats.ts';

const USAGE = `npm run bench:local-store [-- --changes N] [--seconds S] [--connections C] [--lag-rate R]
                                  [--lag-seconds T] [--quick] [--out FILE]

  --changes N      changes the store holds before the grown phase (default 100,000; 20,000 with --quick)
  --seconds S      length of the fresh and grown phases (default 20; 5 with --quick)
  --connections C  keep-alive connections driving increments (default 16)
  --lag-rate R     increments a second while history lag is measured (default 100)
  --lag-seconds T  how long history lag is measured (default 30; 10 with --quick)
  --quick          a smoke run, not figures to quote
  --out FILE       also write the figures as JSON`;

/** Grown and fresh phases alternate this many times, so a change in the machine's load falls on both. */
const ROUNDS = 4;

interface Options {
  changes: number;
  seconds: number;
  connections: number;
  lagRate: number;
  lagSeconds: number;
  quick: boolean;
  out: string | undefined;
}

export function parseOptions(argv: readonly string[]): Options {
  const line = new CommandLine(
    argv,
    {
      changes: { type: 'string' },
      seconds: { type: 'string' },
      connections: { type: 'string' },
      'lag-rate': { type: 'string' },
      'lag-seconds': { type: 'string' },
      quick: { type: 'boolean' },
      out: { type: 'string' },
    },
    USAGE,
  );
  const quick = line.has('quick');
  return {
    changes: line.wholeNumber('changes') ?? (quick ? 20_000 : 100_000),
    seconds: line.positiveNumber('seconds') ?? (quick ? 5 : 20),
    connections: line.wholeNumber('connections') ?? 16,
    lagRate: line.positiveNumber('lag-rate') ?? 100,
    lagSeconds: line.positiveNumber('lag-seconds') ?? (quick ? 10 : 30),
    quick,
    out: line.text('out'),
  };
}

const log = progressLog('bench:local-store');

async function main(options: Options): Promise<void> {
  const loadAverageAtStart = os.loadavg();
  const code = codeVersion(['lib', 'bin', 'functions', 'package-lock.json']);
  const stores = new Stores(options.connections);
  let measured: Awaited<ReturnType<typeof measurePhases>>;
  try {
    measured = await measurePhases(stores, options);
  } finally {
    await stores.stop();
  }
  const report: LocalStoreReport = {
    generatedAt: new Date().toISOString(),
    command: commandOf('bench:local-store'),
    code,
    engine: engineVersion(),
    machine: machineAtEnd(loadAverageAtStart),
    connections: options.connections,
    ...measured,
  };
  process.stdout.write(`${localStoreMarkdown(report)}\n`);
  if (options.out !== undefined) {
    await writeReportFiles([{ file: options.out, text: jsonText(report) }], log);
    log(`figures written to ${options.out}`);
  }
}

/**
 * Fresh, growth, the consumer's catch-up, grown in turns with a second fresh store, then lag on the
 * grown store (the numbered steps above).
 */
async function measurePhases(stores: Stores, options: Options) {
  const store = await stores.start();
  log(`server at ${store.server.url}; warm-up, then ${options.seconds} s of increments on its fresh store`);
  const warmUp = await store.increments('warm-up', 2);
  const fresh = await store.increments('fresh', options.seconds);
  let changes = acknowledged(warmUp) + acknowledged(fresh);
  log(`growing the store from ${changes} to ${options.changes} changes`);
  const growth = await store.increments('growth', 24 * 60 * 60, Math.max(0, options.changes - changes));
  changes += acknowledged(growth);
  log(`grown to ${changes} changes in ${growth.seconds.toFixed(0)} s; waiting for the history consumer`);
  const catchUp = await waitForHistory(store.server, stores.counters());
  log(
    catchUp.caughtUp
      ? `history caught up after ${catchUp.seconds.toFixed(1)} s`
      : `history had not caught up after ${catchUp.seconds.toFixed(0)} s; measuring anyway`,
  );
  const { grown, freshAlongside } = await inTurns(stores, store, options.seconds);
  log(`history lag on the grown store at ${options.lagRate} increments/s for ${options.lagSeconds} s`);
  const lag = await measureLag(store.server, options.lagRate, options.lagSeconds);
  return {
    fresh: figures(fresh),
    growth: {
      ...figures(growth),
      changesAfter: changes,
      catchUpSeconds: catchUp.seconds,
      caughtUp: catchUp.caughtUp,
    },
    grown,
    freshAlongside,
    grownOverFresh: ratio(grown.requestsPerSecond, freshAlongside.requestsPerSecond),
    grownOverFreshAtStart: ratio(grown.requestsPerSecond, fresh.requestsPerSecond),
    lag,
    streamRecords: streamRecordsIn(store.server),
  };
}

/**
 * The machine's load drifts over a long growth; a second server on a fresh store, measured in turns
 * with the grown one, is the reference the ratio is taken against.
 */
async function inTurns(stores: Stores, store: Store, seconds: number) {
  const reference = await stores.start();
  log(`a second server on a fresh store at ${reference.server.url}; ${ROUNDS} rounds of grown, then fresh`);
  await reference.increments('warm-up', 2);
  const grownRounds: RawPhase[] = [];
  const freshRounds: RawPhase[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    grownRounds.push(await store.increments('grown', seconds / ROUNDS));
    freshRounds.push(await reference.increments('fresh', seconds / ROUNDS));
  }
  await reference.server.stop('SIGTERM');
  return { grown: figuresOfRounds(grownRounds), freshAlongside: figuresOfRounds(freshRounds) };
}

/** A local server as `npm start` runs it, and plain increments on it, one counter per connection. */
interface Store {
  server: ServerProcess;
  increments(name: string, seconds: number, maxRequests?: number): Promise<RawPhase>;
}

/** The servers a run starts, each with its load driver; all stopped at the end. */
class Stores {
  private readonly servers: ServerProcess[] = [];
  private readonly drivers: LoadDriver[] = [];

  constructor(private readonly connections: number) {}

  /** The counters the increments go to, one per connection. */
  counters(): string[] {
    return Array.from({ length: this.connections }, (_, worker) => counterOf(worker));
  }

  async start(): Promise<Store> {
    const server = await startServer();
    this.servers.push(server);
    const driver = new LoadDriver(server.url, this.connections);
    this.drivers.push(driver);
    return {
      server,
      increments: (name, seconds, maxRequests) =>
        driver.phase({
          name,
          connections: this.connections,
          seconds,
          maxRequests,
          method: 'POST',
          request: (worker) => ({ path: `/counters/${counterOf(worker)}` }),
        }),
    };
  }

  async stop(): Promise<void> {
    for (const driver of this.drivers) driver.close();
    await Promise.all(this.servers.map((server) => server.stop('SIGTERM')));
  }
}

function counterOf(worker: number): string {
  return `bench-store-${worker}`;
}

function acknowledged(phase: RawPhase): number {
  return phase.requests - phase.errors;
}

/** Counts the stream records in the server's engine file, read-only, after the run. */
function streamRecordsIn(server: ServerProcess): number | undefined {
  try {
    const file = new DatabaseSync(path.join(server.dataDir, 'counters.db'), { readOnly: true });
    try {
      const row = file.prepare('SELECT COUNT(*) AS n FROM _stream_records').get();
      return Number(row?.n);
    } finally {
      file.close();
    }
  } catch {
    return undefined;
  }
}

if (isEntryPoint(import.meta.url)) await runEntryPoint(async () => main(parseOptions(process.argv.slice(2))));
