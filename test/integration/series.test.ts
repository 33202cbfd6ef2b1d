import { describe, expect, it } from 'vitest';
import type { HistoryBody } from '../support/api.ts';
import { useServer } from '../support/server-process.ts';
import { eventually } from '../support/signed-client.ts';

interface Bucket {
  start: string;
  delta: number;
  count: number;
  value: number;
}

// Issue 5 over signed HTTP: series read from the consumer's rollups, and history within a time window.
describe('series and time windows', () => {
  const server = useServer();
  const client = server.client;

  const seriesOf = (name: string, query: string, count: number) =>
    eventually(async () => {
      const buckets = await client.all<Bucket>(`/counters/${name}/series?${query}`);
      return buckets.reduce((sum, bucket) => sum + bucket.count, 0) === count ? buckets : undefined;
    }, 10_000);

  it('sums changes into UTC buckets of a minute, an hour and a day, each with its count and closing value', async () => {
    await client.post('/counters/series.basic', { body: { by: 5 } });
    await client.post('/counters/series.basic', { body: { by: -2 } });
    await client.put('/counters/series.basic', { body: { value: 10 } });

    const history = await client.historyOf('/counters/series.basic', 3);
    for (const interval of ['minute', 'hour', 'day']) {
      const buckets = await seriesOf('series.basic', `interval=${interval}`, 3);
      const sum = buckets.reduce((total, bucket) => total + bucket.delta, 0);
      expect(sum, interval).toBe(10);
      expect(buckets.at(-1)?.value, interval).toBe(10);
      for (const bucket of buckets) expect(bucket.start).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00\.000Z$/);
    }
    const day = await seriesOf('series.basic', 'interval=day', 3);
    const firstChange = history[0]?.created_at ?? '';
    expect(day[0]?.start).toBe(`${firstChange.slice(0, 10)}T00:00:00.000Z`);
  });

  it('counts each change once in the series however the stream delivers it, 200 concurrent increments', async () => {
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        for (let i = 0; i < 10; i++) expect((await client.post('/counters/series.busy')).status).toBe(200);
      }),
    );

    const buckets = await seriesOf('series.busy', 'interval=hour', 200);

    expect(buckets.reduce((sum, bucket) => sum + bucket.delta, 0)).toBe(200);
    expect(buckets.at(-1)?.value).toBe(200);
  });

  it('bounds a series with since and until', async () => {
    await client.post('/counters/series.window');
    await seriesOf('series.window', 'interval=minute', 1);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const past = new Date(Date.now() - 3_600_000).toISOString();

    const after = await client.get(`/counters/series.window/series?interval=minute&since=${future}`);
    const before = await client.get(`/counters/series.window/series?interval=minute&until=${past}`);
    const around = await client.get(
      `/counters/series.window/series?interval=minute&since=${past}&until=${future}`,
    );

    expect(after.json).toEqual([]);
    expect(before.json).toEqual([]);
    expect(around.json).toHaveLength(1);
  });

  it('reads the history within since and until', async () => {
    for (let i = 0; i < 3; i++) await client.post('/counters/history.window');
    await new Promise((resolve) => setTimeout(resolve, 30));
    const middle = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 30));
    for (let i = 0; i < 2; i++) await client.post('/counters/history.window');
    await client.historyOf('/counters/history.window', 5);

    const since = await client.all<HistoryBody>(`/counters/history.window/history?since=${middle}&limit=1`);
    const until = await client.all<HistoryBody>(`/counters/history.window/history?until=${middle}`);

    expect(since.map((entry) => entry.version)).toEqual([4, 5]);
    expect(until.map((entry) => entry.version)).toEqual([1, 2, 3]);
  });

  it.each([
    ['a missing interval', '/counters/series.basic/series'],
    ['an unknown interval', '/counters/series.basic/series?interval=week'],
    [
      'a time that is not UTC',
      '/counters/series.basic/series?interval=day&since=2026-11-30T10:00:00%2B01:00',
    ],
    ['a time that is not a date', '/counters/series.basic/series?interval=day&since=2026-13-45T10:00:00Z'],
    [
      'since after until',
      '/counters/series.basic/series?interval=day&since=2026-11-30T10:00:00Z&until=2026-11-29T10:00:00Z',
    ],
    ['a bad history window', '/counters/series.basic/history?since=yesterday'],
  ])('answers %s with 400 problem+json', async (_what, path) => {
    const response = await client.get(path);

    expect(response.status, response.text).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
  });

  it('answers 404 for the series of a counter that does not exist, and [] for the untouched default', async () => {
    expect((await client.get('/counters/series.absent/series?interval=day')).status).toBe(404);
    const untouched = await client.get('/counters/default/series?interval=day');
    expect(untouched.status).toBe(200);
    expect(untouched.json).toEqual([]);
  });
});

describe('history retention', () => {
  // A retention far shorter than a day, so entries are past it within the test.
  const { client } = useServer({ env: { HISTORY_RETENTION_DAYS: String(1 / 86_400) } });

  it('stops showing raw history past its retention, while the series and the value stay', async () => {
    await client.post('/counters/retained', { body: { by: 7 } });
    await eventually(async () => {
      const buckets = (await client.get('/counters/retained/series?interval=day')).json as Bucket[];
      return buckets.length === 1 ? true : undefined;
    });

    const expired = await eventually(
      async () => {
        const entries = (await client.get('/counters/retained/history')).json as HistoryBody[];
        return entries.length === 0 ? entries : undefined;
      },
      10_000,
      'history past retention to disappear',
    );

    expect(expired).toEqual([]);
    expect((await client.counter('/counters/retained')).value).toBe(7);
    expect((await client.get('/counters/retained/series?interval=day')).json).toEqual([
      expect.objectContaining({ delta: 7, count: 1, value: 7 }),
    ]);
  });
});
