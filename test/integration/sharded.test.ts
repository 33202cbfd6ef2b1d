import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { type CounterBody, expectExactHistory } from '../support/api.ts';
import { useEngine } from '../support/local-engine.ts';
import { useServer } from '../support/server-process.ts';
import { eventually } from '../support/signed-client.ts';

type ShardedBody = CounterBody & { shards?: number };

// Issue 6's hot counters (docs/sharding.md) over signed HTTP against the local engine and its stream:
// a counter spread over N items counts exactly under concurrency, and its history is numbered 1..n.
describe('sharded counters', () => {
  // Our own engine, so the test can look at the items behind the API.
  const local = useEngine();
  const { client } = useServer(() => ({ env: { DYNAMODB_ENDPOINT: local.endpoint } }));

  /** The version of one item of the counters table: shard 0 is the counter's own item, shard i `<name>#<i>`. */
  const shardVersion = async (name: string, index: number) => {
    const { Item } = await local.raw.send(
      new GetItemCommand({
        TableName: 'counter-service-counters',
        Key: { name: { S: index === 0 ? name : `${name}#${index}` } },
        ConsistentRead: true,
      }),
    );
    return Item?.version?.N === undefined ? undefined : Number(Item.version.N);
  };

  it('creates a counter spread over N shards with PUT {"value", "shards"}, at version 1', async () => {
    const created = await client.put('/counters/hot.create', { body: { value: 7, shards: 4 } });

    expect(created.status, created.text).toBe(200);
    expect(created.json).toMatchObject({ name: 'hot.create', value: 7, version: 1, shards: 4 });
    const read = await client.get('/counters/hot.create');
    expect(read.json).toMatchObject({ value: 7, version: 1, shards: 4 });
    expect(read.headers.get('etag')).toBe('"1"');
  });

  it('keeps exact totals, versions and history under 400 concurrent increments from 16 clients', async () => {
    await client.put('/counters/hot.busy', { body: { value: 0, shards: 8 } });
    const answers: number[] = [];

    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = 0; i < 25; i++) {
          const response = await client.post('/counters/hot.busy', { body: { by: 2 } });
          expect(response.status, response.text).toBe(200);
          answers.push((response.json as ShardedBody).version);
        }
      }),
    );

    const counter = (await client.counter('/counters/hot.busy')) as ShardedBody;
    expect(counter).toMatchObject({ value: 800, version: 401, shards: 8 });
    // The increments went to all eight items, one each, and the counter is their sum.
    const versions = await Promise.all(
      Array.from({ length: 8 }, (_, index) => shardVersion('hot.busy', index)),
    );
    for (const version of versions) expect(version).toBeGreaterThan(1);
    expect(versions.reduce((sum = 0, version = 0) => sum + version, 0)).toBe(401);
    // Each answer is a snapshot read after its own change: it holds at least that change.
    for (const version of answers) expect(version).toBeGreaterThanOrEqual(2);
    expect(Math.max(...answers)).toBe(401);
    const history = await client.historyOf('/counters/hot.busy', 401, 60_000);
    expect(history).toHaveLength(401);
    expectExactHistory(history, 800);
    expect(history[0]).toMatchObject({ version: 1, op: 'set', value: 0, delta: 0 });
    expect(history.slice(1).every((entry) => entry.op === 'increment' && entry.delta === 2)).toBe(true);
    // Stored in pages of entries (one per consumer step), read back cut at any limit and any time window.
    expect(await client.all('/counters/hot.busy/history?limit=7')).toEqual(history);
    const since = history[100]?.created_at ?? '';
    const until = history[400]?.created_at ?? '';
    const inWindow = history.filter((entry) => entry.created_at >= since && entry.created_at < until);
    expect(inWindow.length).toBeGreaterThan(0);
    expect(inWindow.length).toBeLessThan(history.length);
    const window = `since=${encodeURIComponent(since)}&until=${encodeURIComponent(until)}`;
    expect(await client.all(`/counters/hot.busy/history?limit=9&${window}`)).toEqual(inWindow);
  });

  it('answers 204 without reading the shards to Prefer: return=minimal, and still counts exactly', async () => {
    await client.put('/counters/hot.minimal', { body: { value: 0, shards: 4 } });
    await client.put('/counters/plain.minimal', { body: { value: 0 } });
    const minimal = { prefer: 'return=minimal' };
    const statuses: number[] = [];

    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 10; i++) {
          const response = await client.post('/counters/hot.minimal', { headers: minimal });
          statuses.push(response.status);
          expect(response.text).toBe('');
          expect(response.headers.get('preference-applied')).toBe('return=minimal');
          // A sharded counter's increment reads nothing, so it knows no version to send.
          expect(response.headers.get('etag')).toBeNull();
        }
      }),
    );
    const plain = await client.post('/counters/plain.minimal', { headers: minimal });
    const keyed = await client.post('/counters/hot.minimal', {
      headers: { ...minimal, 'idempotency-key': 'minimal-1' },
    });
    const replay = await client.post('/counters/hot.minimal', {
      headers: { ...minimal, 'idempotency-key': 'minimal-1' },
    });

    expect(statuses).toEqual(Array(80).fill(204));
    expect(plain.status).toBe(204);
    expect(plain.headers.get('etag')).toBe('"2"');
    expect(keyed.status).toBe(204);
    expect(replay.status).toBe(204);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await client.counter('/counters/hot.minimal')).toMatchObject({ value: 81, version: 82 });
    const history = await client.historyOf('/counters/hot.minimal', 82);
    expectExactHistory(history, 81);
  });

  it('sums the shards in listings, and in a day series from the rollups', async () => {
    await client.put('/counters/hot.list.a', { body: { value: 1, shards: 3 } });
    await Promise.all(Array.from({ length: 9 }, () => client.post('/counters/hot.list.a')));
    await client.post('/counters/hot.list.b');

    const listed = await client.all<ShardedBody>('/counters?prefix=hot.list.');
    expect(listed.map(({ name, value, version }) => ({ name, value, version }))).toEqual([
      { name: 'hot.list.a', value: 10, version: 10 },
      { name: 'hot.list.b', value: 1, version: 1 },
    ]);
    const day = await eventually(async () => {
      const buckets = await client.all<{ count: number; value: number }>(
        '/counters/hot.list.a/series?interval=day',
      );
      return buckets.reduce((sum, bucket) => sum + bucket.count, 0) === 10 ? buckets : undefined;
    }, 10_000);
    expect(day.at(-1)?.value).toBe(10);
  });

  it('refuses sets of a sharded counter, and shards for a counter that exists, changing nothing', async () => {
    await client.put('/counters/hot.rules', { body: { value: 5, shards: 2 } });
    await client.put('/counters/hot.plain', { body: { value: 5 } });

    const set = await client.put('/counters/hot.rules', { body: { value: 9 } });
    const reshard = await client.put('/counters/hot.plain', { body: { value: 9, shards: 4 } });
    const tooBig = await client.put('/counters/hot.big', { body: { value: 9007199254740991, shards: 2 } });
    const tooMany = await client.put('/counters/hot.many', { body: { value: 0, shards: 33 } });

    expect(set.status).toBe(409);
    expect(set.headers.get('content-type')).toContain('application/problem+json');
    expect(set.json).toMatchObject({
      type: '/problems/sharded',
      detail: expect.stringContaining('2 shards'),
    });
    expect(reshard.status).toBe(409);
    expect(reshard.json).toMatchObject({ detail: expect.stringContaining('already exists') });
    expect(tooBig.status).toBe(409);
    expect(tooMany.status).toBe(400);
    expect(await client.counter('/counters/hot.rules')).toMatchObject({ value: 5, version: 1 });
    expect(await client.counter('/counters/hot.plain')).toMatchObject({ value: 5, version: 1 });
    expect((await client.get('/counters/hot.big')).status).toBe(404);
  });

  it('takes If-Match as the total version, and answers exactly what the change made', async () => {
    await client.put('/counters/hot.match', { body: { value: 0, shards: 4 } });
    await client.post('/counters/hot.match');

    const stale = await client.post('/counters/hot.match', { headers: { 'if-match': '"1"' } });
    const current = await client.post('/counters/hot.match', {
      body: { by: 5 },
      headers: { 'if-match': '"2"' },
    });

    expect(stale.status).toBe(412);
    expect(current.status, current.text).toBe(200);
    expect(current.json).toMatchObject({ value: 6, version: 3 });
    expect(await client.counter('/counters/hot.match')).toMatchObject({ value: 6, version: 3 });
  });

  it('counts keyed increments once when repeated, and replays their first answer', async () => {
    await client.put('/counters/hot.keyed', { body: { value: 0, shards: 4 } });
    const keyed = (key: string) =>
      client.post('/counters/hot.keyed', { body: { by: 3 }, headers: { 'idempotency-key': key } });

    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => keyed(`job-${i}`)));
    const first = await keyed('job-7');
    const again = await keyed('job-7');

    for (const result of results) expect(result.status, result.text).toBe(200);
    expect(first.headers.get('idempotent-replayed')).toBe('true');
    expect(again.text).toBe(first.text);
    expect(first.text).toBe(results[7]?.text);
    expect(await client.counter('/counters/hot.keyed')).toMatchObject({ value: 60, version: 21 });
    const history = await client.historyOf('/counters/hot.keyed', 21);
    expectExactHistory(history, 60);
  });

  it('deletes every shard with the counter, and a new one of the same name starts afresh', async () => {
    await client.put('/counters/hot.gone', { body: { value: 0, shards: 4 } });
    await Promise.all(Array.from({ length: 12 }, () => client.post('/counters/hot.gone')));
    await client.historyOf('/counters/hot.gone', 13);

    const deleted = await client.delete('/counters/hot.gone');
    const after = await client.get('/counters/hot.gone');
    const reborn = await client.post('/counters/hot.gone');

    expect(deleted.status).toBe(204);
    expect(after.status).toBe(404);
    for (const index of [1, 2, 3]) expect(await shardVersion('hot.gone', index)).toBeUndefined();
    expect(reborn.json).toMatchObject({ value: 1, version: 1 });
    expect(reborn.json).not.toHaveProperty('shards');
    const history = await client.historyOf('/counters/hot.gone', 1);
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ version: 1, value: 1 });
  });
});
