import { describe, expect, it } from 'vitest';
import { type CounterBody, expectExactHistory, type HistoryBody } from '../support/api.ts';
import { useServer } from '../support/server-process.ts';
import { eventually } from '../support/signed-client.ts';

describe('the counters API', () => {
  const server = useServer();
  const client = server.client;

  it('creates a counter at 0 on its first increment and adds N, negative N subtracting', async () => {
    const first = await client.post('/counters/crud.add', { body: { by: 5 } });
    const second = await client.post('/counters/crud.add', { body: { by: -8 } });
    const third = await client.post('/counters/crud.add');

    expect(first.json).toMatchObject({ name: 'crud.add', value: 5, version: 1 });
    expect(second.json).toMatchObject({ value: -3, version: 2 });
    expect(third.json).toMatchObject({ value: -2, version: 3 });
    expect(third.headers.get('etag')).toBe('"3"');
  });

  it('answers GET with the counter, its times in UTC, and its version as a strong ETag', async () => {
    await client.put('/counters/crud.get', { body: { value: 42 } });

    const response = await client.get('/counters/crud.get');

    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).toBe('"1"');
    const counter = response.json as CounterBody;
    expect(counter).toMatchObject({ name: 'crud.get', value: 42, version: 1 });
    expect(counter.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(counter.updated_at).toBe(counter.created_at);
  });

  it('answers 404 problem+json for a counter that does not exist', async () => {
    const response = await client.get('/counters/crud.absent');

    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.json).toMatchObject({ status: 404, detail: expect.stringContaining('crud.absent') });
  });

  it('applies a change only when If-Match names the current version', async () => {
    await client.put('/counters/crud.match', { body: { value: 1 } });

    const stale = await client.put('/counters/crud.match', {
      body: { value: 9 },
      headers: { 'if-match': '"2"' },
    });
    const current = await client.put('/counters/crud.match', {
      body: { value: 9 },
      headers: { 'if-match': '"1"' },
    });
    const staleDelete = await client.delete('/counters/crud.match', { headers: { 'if-match': '"1"' } });

    expect(stale.status).toBe(412);
    expect(current.json).toMatchObject({ value: 9, version: 2 });
    expect(staleDelete.status).toBe(412);
    expect((await client.counter('/counters/crud.match')).value).toBe(9);
  });

  it('deletes with 204, then answers 404, and a counter made again starts afresh with an empty history', async () => {
    await client.post('/counters/crud.again', { body: { by: 3 } });
    await client.post('/counters/crud.again', { body: { by: 4 } });
    await client.historyOf('/counters/crud.again', 2);

    const deleted = await client.delete('/counters/crud.again');
    const again = await client.delete('/counters/crud.again');
    const afterDelete = await client.get('/counters/crud.again/history');
    const recreated = await client.post('/counters/crud.again', { body: { by: 10 } });

    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe('');
    expect(again.status).toBe(404);
    expect(afterDelete.status).toBe(404);
    expect(recreated.json).toMatchObject({ value: 10, version: 1 });
    const history = await client.historyOf('/counters/crud.again', 1);
    expect(history).toEqual([expect.objectContaining({ version: 1, value: 10, delta: 10, op: 'increment' })]);
  });

  it('lists counters by name with a prefix, a page at a time, following Link rel="next"', async () => {
    const names = ['list.c', 'list.a', 'list.e', 'list.b', 'list.d'];
    for (const name of names) await client.post(`/counters/${name}`);
    await client.post('/counters/listx');

    const firstPage = await client.get('/counters?prefix=list.&limit=2');
    const everything = await client.all<CounterBody>('/counters?prefix=list.&limit=2');

    expect((firstPage.json as CounterBody[]).map((c) => c.name)).toEqual(['list.a', 'list.b']);
    expect(firstPage.headers.get('link')).toMatch(
      /^<\/counters\?prefix=list\.&limit=2&cursor=[\w-]+>; rel="next"$/,
    );
    expect(everything.map((c) => c.name)).toEqual(['list.a', 'list.b', 'list.c', 'list.d', 'list.e']);
    expect(everything.every((c) => c.value === 1)).toBe(true);
  });

  it('sends no Link header on the last page', async () => {
    await client.post('/counters/last.only');

    const response = await client.get('/counters?prefix=last.&limit=5');

    expect(response.json).toHaveLength(1);
    expect(response.headers.get('link')).toBeNull();
  });

  it('records every change in the history, oldest first, with the actor and the operation', async () => {
    await client.post('/counters/hist.one', { body: { by: 2 } });
    await client.put('/counters/hist.one', { body: { value: 10 } });
    await client.post('/counters/hist.one', { body: { by: -1 } });
    await client.put('/counters/hist.one', { body: { value: 10 } });

    const history = await client.historyOf('/counters/hist.one', 4);

    expect(history.map(({ version, value, delta, op }) => ({ version, value, delta, op }))).toEqual([
      { version: 1, value: 2, delta: 2, op: 'increment' },
      { version: 2, value: 10, delta: 8, op: 'set' },
      { version: 3, value: 9, delta: -1, op: 'increment' },
      { version: 4, value: 10, delta: 1, op: 'set' },
    ]);
    expect(history.every((entry) => entry.actor === 'arn:aws:iam::000000000000:user/local-admin')).toBe(true);
    expectExactHistory(history, 10);
  });

  it('pages through a long history with Link rel="next"', async () => {
    for (let i = 0; i < 25; i++) await client.post('/counters/hist.long');
    await client.historyOf('/counters/hist.long', 25);

    const first = await client.get('/counters/hist.long/history?limit=10');
    const all = await client.all<HistoryBody>('/counters/hist.long/history?limit=10');

    expect(first.json).toHaveLength(10);
    expect(first.headers.get('link')).toMatch(/rel="next"/);
    expect(all.map((entry) => entry.version)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
  });

  it('answers an empty history for the never-changed default counter', async () => {
    const response = await client.get('/counter/history');

    expect(response.status).toBe(200);
    expect(response.json).toEqual([]);
  });

  it('shows a change in the history within 5 seconds', async () => {
    const started = Date.now();
    await client.post('/counters/hist.lag');

    await eventually(async () => {
      const response = await client.get('/counters/hist.lag/history');
      return (response.json as HistoryBody[]).length === 1 ? true : undefined;
    }, 5_000);

    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('answers the seed routes exactly as the /counters/default routes', async () => {
    await client.put('/counter', { body: { value: 3 } });

    const seed = await client.get('/counter');
    const named = await client.get('/counters/default');

    expect(seed.json).toEqual(named.json);
    expect(seed.headers.get('etag')).toBe(named.headers.get('etag'));
  });
});
