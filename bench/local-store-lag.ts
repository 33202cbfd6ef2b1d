/**
 * The history consumer as `npm run bench:local-store` sees it from outside: whether each counter's
 * history has caught up, and how long an increment takes from its answer to its history entry.
 */
import type { ServerProcess } from '../test/support/server-process.ts';
import { call } from '../test/support/signed-client.ts';
import { type LagFigures, POLL_MS } from './local-store-report.ts';
import { percentile } from './stats.ts';

/** After the last lagged increment, how long its history may take before the run gives up on it. */
const LAG_GIVE_UP_MS = 60_000;
/** How long the consumer may take to catch up after the growth before the run says so and goes on. */
const CATCH_UP_MAX_MS = 30 * 60_000;

/** Waits until each counter's history holds its latest version. */
export async function waitForHistory(
  server: ServerProcess,
  names: readonly string[],
): Promise<{ caughtUp: boolean; seconds: number }> {
  const started = performance.now();
  const pending = new Set(names);
  while (pending.size > 0 && performance.now() - started < CATCH_UP_MAX_MS) {
    for (const name of [...pending]) {
      const counter = await call(server.url, 'GET', `/counters/${name}`);
      const { version, updated_at } = counter.json as { version: number; updated_at: string };
      const entries = await historySince(server, name, updated_at);
      if (entries.some((entry) => entry.version === version)) pending.delete(name);
    }
    if (pending.size > 0) await sleep(1000);
  }
  return { caughtUp: pending.size === 0, seconds: (performance.now() - started) / 1000 };
}

/**
 * `rate` increments a second on a counter of its own, each sent when its turn comes, while a watcher
 * reads the counter's history every POLL_MS and notes when each version first shows.
 */
export async function measureLag(server: ServerProcess, rate: number, seconds: number): Promise<LagFigures> {
  const run = new LagRun(server, `bench-lag-${Date.now()}`);
  const watching = run.watch();
  await run.send(rate, seconds);
  await watching;
  return run.figures(rate, seconds);
}

/** One lag measurement: the increments sent and the versions seen in history, with their times. */
class LagRun {
  /** Every increment sent: when, and once answered, its version and when it was answered. */
  private sent: { sentAt: Date; version?: number; answeredAt?: number }[] = [];
  private readonly seen = new Map<number, number>();
  private errors = 0;
  private sending = true;

  constructor(
    private readonly server: ServerProcess,
    private readonly name: string,
  ) {}

  /** Reads the history until every answered increment has shown, or LAG_GIVE_UP_MS after the last was sent. */
  async watch(): Promise<void> {
    let giveUpAt = Number.POSITIVE_INFINITY;
    while (performance.now() < giveUpAt) {
      const from = this.oldestPending();
      if (!this.sending) {
        giveUpAt = Math.min(giveUpAt, performance.now() + LAG_GIVE_UP_MS);
        if (from === undefined) return;
      }
      if (from !== undefined) {
        const since = new Date(from.getTime() - 1000).toISOString();
        for (const entry of await historySince(this.server, this.name, since)) {
          if (!this.seen.has(entry.version)) this.seen.set(entry.version, entry.readAt);
        }
      }
      await sleep(POLL_MS);
    }
  }

  /** Each increment when its turn comes, not when the last was answered. */
  async send(rate: number, seconds: number): Promise<void> {
    const interval = 1000 / rate;
    const started = performance.now();
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < Math.round(rate * seconds); i++) {
      const wait = started + i * interval - performance.now();
      if (wait > 0) await sleep(wait);
      inFlight.push(this.increment());
    }
    await Promise.all(inFlight);
    // A failed increment has no version and never shows; the watcher stops waiting for it.
    this.sent = this.sent.filter((request) => request.version !== undefined);
    this.sending = false;
  }

  figures(rate: number, seconds: number): LagFigures {
    const lags: number[] = [];
    for (const request of this.sent) {
      const shown = request.version === undefined ? undefined : this.seen.get(request.version);
      if (shown !== undefined && request.answeredAt !== undefined)
        lags.push(Math.max(0, shown - request.answeredAt));
    }
    return {
      rate,
      seconds,
      acknowledged: this.sent.length,
      errors: this.errors,
      missing: this.sent.length - lags.length,
      p50Ms: percentile(lags, 50),
      p90Ms: percentile(lags, 90),
      p99Ms: percentile(lags, 99),
      maxMs: lags.length === 0 ? Number.NaN : Math.max(...lags),
    };
  }

  private async increment(): Promise<void> {
    const request: (typeof this.sent)[number] = { sentAt: new Date() };
    this.sent.push(request);
    try {
      const answer = await call(this.server.url, 'POST', `/counters/${this.name}`);
      const version = (answer.json as { version?: number } | undefined)?.version;
      if (answer.status === 200 && typeof version === 'number') {
        request.version = version;
        request.answeredAt = performance.now();
      } else {
        this.errors++;
      }
    } catch {
      this.errors++;
    }
  }

  /**
   * An entry's created_at is when its handler ran, so versions do not arrive in created_at order: the
   * watcher asks from the send time of the oldest increment not yet seen in history.
   */
  private oldestPending(): Date | undefined {
    return this.sent.find((request) => request.version === undefined || !this.seen.has(request.version))
      ?.sentAt;
  }
}

/**
 * A counter's history from `since` on, following `Link: rel="next"` (a page of a time window can come
 * back short, or empty, with more after it); each entry with when its page arrived.
 */
async function historySince(
  server: ServerProcess,
  name: string,
  since: string,
): Promise<{ version: number; readAt: number }[]> {
  const entries: { version: number; readAt: number }[] = [];
  let next: string | undefined = `/counters/${name}/history?since=${encodeURIComponent(since)}&limit=1000`;
  while (next !== undefined) {
    const page = await call(server.url, 'GET', next);
    if (page.status !== 200 || !Array.isArray(page.json)) break;
    const readAt = performance.now();
    for (const entry of page.json as { version: number }[]) entries.push({ version: entry.version, readAt });
    next = /<([^>]+)>;\s*rel="next"/.exec(page.headers.get('link') ?? '')?.[1];
  }
  return entries;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
