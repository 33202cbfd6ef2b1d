import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CounterClient } from '../../client/counter-client.ts';
import { exportCounters } from '../../client/export.ts';
import { type ExportLine, parseLine } from '../../client/export-format.ts';
import { DynamoCounterRepository } from '../../functions/counter/dynamodb-repository.ts';
import { type api, expectExactHistory, type HistoryBody } from '../support/api.ts';
import { useEngine } from '../support/local-engine.ts';
import { useServer } from '../support/server-process.ts';
import { ADMIN, type CallResult, eventually } from '../support/signed-client.ts';

interface Bucket {
  start: string;
  delta: number;
  count: number;
  value: number;
}

const ACTOR = 'arn:aws:iam::000000000000:user/paging-test';
const WRITERS = 32;
const READER_PAGE_SIZES = [5, 50, 1000];

/** The next page's path from a `Link: <...>; rel="next"` header, if any. */
const linkOf = (response: CallResult) =>
  /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') ?? '')?.[1];

/** 32 callers incrementing `path` at once, `each` times apiece; resolves when all are answered. */
async function writers(client: ReturnType<typeof api>, path: string, each: number): Promise<void> {
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      for (let i = 0; i < each; i++) {
        const response = await client.post(path);
        expect(response.status, response.text).toBe(200);
      }
    }),
  );
}

// Every paged route followed Link by Link, at rest and while the counter changes (issue 13). The
// server runs on an engine this test also writes to directly, through the service's own UpdateItem,
// so that changes can carry times in several minutes, hours and days; and through a proxy that, while
// the counter changes, holds each history write a random moment, as the network does on AWS, so a
// batch's concurrent writes land in any order.
describe('paging', () => {
  const local = useEngine({ faultProxy: true });
  const { proxy } = local;
  // A batching window makes the consumer's batches as large as a busy counter's on AWS (up to 100
  // changes, written concurrently), where this machine's writers alone would make batches of a few.
  const server = useServer(() => ({
    env: { DYNAMODB_ENDPOINT: proxy.url, HISTORY_BATCHING_WINDOW_SECONDS: '1' },
  }));
  const { client } = server;

  /** Changes of `name` made at `times`, through the repository the handlers use, with the server's tables. */
  const changeAt = async (name: string, times: string[]) => {
    const repository = new DynamoCounterRepository(local.documents, {
      counters: 'counter-service-counters',
      history: 'counter-service-history',
      rollups: 'counter-service-rollups',
    });
    for (const now of times) {
      await repository.increment({ name, by: 1, actor: ACTOR, now, newIncarnation: `${name}-1` });
    }
  };

  /** Every item of a paged route, following Link to the end; fails on a page that is not 200. */
  const follow = async <T>(path: string): Promise<{ items: T[]; pages: number }> => {
    const items: T[] = [];
    let next: string | undefined = path;
    let pages = 0;
    while (next !== undefined && pages < 100) {
      const response: CallResult = await client.get(next);
      expect(response.status, `${next}: ${response.text}`).toBe(200);
      items.push(...(response.json as T[]));
      next = linkOf(response);
      pages++;
    }
    return { items, pages };
  };

  describe('at rest', () => {
    // Two changes in one minute, then a new minute, hour, day and a later day.
    const times = [
      '2026-11-28T10:00:05.000Z',
      '2026-11-28T10:00:50.000Z',
      '2026-11-28T10:01:10.000Z',
      '2026-11-28T11:30:00.000Z',
      '2026-11-29T09:00:00.000Z',
      '2026-11-30T23:59:59.999Z',
    ];

    beforeAll(async () => {
      await changeAt('pg.timed', times);
      await client.historyOf('/counters/pg.timed', times.length);
      // History is readable up to what the rollups hold, so every interval's buckets are there too.
    });

    it('follows the listing page by page, each counter once and in name order', async () => {
      const names = ['pg.list.e', 'pg.list.a', 'pg.list.d', 'pg.list.b', 'pg.list.c', 'pg.lister', 'pg.lisu'];
      for (const name of names) expect((await client.post(`/counters/${name}`)).status).toBe(200);

      const { items, pages } = await follow<{ name: string }>('/counters?prefix=pg.list.&limit=2');
      const everything = await follow<{ name: string }>('/counters?limit=1');

      expect(items.map((counter) => counter.name)).toEqual([
        'pg.list.a',
        'pg.list.b',
        'pg.list.c',
        'pg.list.d',
        'pg.list.e',
      ]);
      expect(pages).toBe(3);
      const all = everything.items.map((counter) => counter.name);
      expect(all).toEqual([...new Set(all)].sort());
      expect(all).toEqual(expect.arrayContaining([...names, 'pg.timed']));
    });

    it('follows the history page by page, each version once and in order', async () => {
      const { items, pages } = await follow<HistoryBody>('/counters/pg.timed/history?limit=2');

      expect(items.map((entry) => [entry.version, entry.created_at])).toEqual(
        times.map((time, index) => [index + 1, time]),
      );
      expectExactHistory(items, times.length);
      expect(pages).toBe(3);
    });

    it('follows the history within since and until page by page, only the versions in the window', async () => {
      const { items } = await follow<HistoryBody>(
        '/counters/pg.timed/history?limit=1&since=2026-11-28T10:00:30Z&until=2026-11-29T09:00:00Z',
      );

      expect(items.map((entry) => entry.version)).toEqual([2, 3, 4]);
    });

    it.each([
      [
        'minute',
        ['2026-11-28T10:00', '2026-11-28T10:01', '2026-11-28T11:30', '2026-11-29T09:00', '2026-11-30T23:59'],
      ],
      ['hour', ['2026-11-28T10:00', '2026-11-28T11:00', '2026-11-29T09:00', '2026-11-30T23:00']],
      ['day', ['2026-11-28T00:00', '2026-11-29T00:00', '2026-11-30T00:00']],
    ])('follows the %s series page by page, each bucket once and in order', async (interval, starts) => {
      const { items, pages } = await follow<Bucket>(`/counters/pg.timed/series?interval=${interval}&limit=1`);

      expect(items.map((bucket) => bucket.start)).toEqual(starts.map((start) => `${start}:00.000Z`));
      expect(pages).toBe(starts.length);
      expect(items.reduce((sum, bucket) => sum + bucket.count, 0)).toBe(times.length);
      expect(items.at(-1)?.value).toBe(times.length);
    });

    it('follows a series within since and until page by page, the window kept on every page', async () => {
      const { items } = await follow<Bucket>(
        '/counters/pg.timed/series?interval=minute&limit=1&since=2026-11-28T10:01:00Z&until=2026-11-30T00:00:00Z',
      );

      expect(items.map((bucket) => bucket.start)).toEqual([
        '2026-11-28T10:01:00.000Z',
        '2026-11-28T11:30:00.000Z',
        '2026-11-29T09:00:00.000Z',
      ]);
    });
  });

  describe('while the counter changes', () => {
    beforeAll(() => {
      // History entries are the consumer's only PutItems.
      proxy.setRules([{ operation: 'PutItem', fault: 'delay', delayMs: 150 }]);
    });

    afterAll(() => {
      proxy.setRules([]);
    });

    it(`shows readers following Link every version exactly once, in order, while ${WRITERS} writers increment`, async () => {
      const path = '/counters/pg.hot';
      const each = 6;
      const total = WRITERS * each;
      let writing = true;
      const written = writers(client, path, each).finally(() => {
        writing = false;
      });
      // Each reader pages with its own page size; at the end of the history it reads its last page
      // again until more comes, as a tailing reader does. A page reached by a Link must hold only
      // versions the reader has not seen (no repeat), and every version it has not seen must be the
      // next one: one after a later version means a page answered it out of order, and a reader that
      // had followed Link past that page would never have seen it.
      const read = async (limit: number) => {
        const order: number[] = [];
        const repeats: number[] = [];
        const seen = new Set<number>();
        let next = `${path}/history?limit=${limit}`;
        let followed = false;
        const deadline = Date.now() + 60_000;
        while ((writing || seen.size < total) && Date.now() < deadline) {
          const response = await client.get(next);
          // 404 only before the first writer has created the counter.
          expect(response.status, response.text).toBe(response.status === 404 && seen.size === 0 ? 404 : 200);
          for (const entry of response.status === 200 ? (response.json as HistoryBody[]) : []) {
            if (seen.has(entry.version)) {
              if (followed) repeats.push(entry.version);
              continue;
            }
            seen.add(entry.version);
            order.push(entry.version);
          }
          const link = response.status === 200 ? linkOf(response) : undefined;
          followed = link !== undefined;
          if (link !== undefined) next = link;
          else await new Promise((resolve) => setTimeout(resolve, 5));
        }
        return { order, repeats };
      };

      const orders = await Promise.all(READER_PAGE_SIZES.map(read));
      await written;

      const expected = Array.from({ length: total }, (_, index) => index + 1);
      for (const [index, { order, repeats }] of orders.entries()) {
        expect(order, `the reader with pages of ${READER_PAGE_SIZES[index]}`).toEqual(expected);
        expect(repeats, `the reader with pages of ${READER_PAGE_SIZES[index]}`).toEqual([]);
      }
      expect((await client.counter(path)).value).toBe(total);
    });

    it(`exports every version exactly once, in order, while ${WRITERS} writers increment`, async () => {
      const path = '/counters/pg.export.hot';
      expect((await client.post(path)).status).toBe(200);
      const counters = new CounterClient({ url: server.url, credentials: ADMIN });
      const written = writers(client, path, 6);
      // Let the writers get going, so the export reads a history that is being written.
      await eventually(async () => ((await client.counter(path)).version >= 40 ? true : undefined));
      const lines: string[] = [];

      const summary = await exportCounters(
        counters,
        async (line) => {
          lines.push(line);
        },
        { prefix: 'pg.export.' },
      );
      await written;

      const parsed = lines.map((line, index) => parseLine(line, index + 1));
      const counter = parsed.find(
        (line): line is Extract<ExportLine, { type: 'counter' }> => line.type === 'counter',
      );
      const entries = parsed.filter(
        (line): line is Extract<ExportLine, { type: 'history' }> => line.type === 'history',
      );
      expect(summary).toMatchObject({ counters: 1, incomplete: [], vanished: [] });
      expect(counter?.version).toBeGreaterThanOrEqual(40);
      expect(entries.map((entry) => entry.version)).toEqual(
        Array.from({ length: counter?.version ?? 0 }, (_, index) => index + 1),
      );
      expectExactHistory(entries, counter?.value ?? Number.NaN);
    });
  });
});
