import { beforeEach, describe, expect, it } from 'vitest';
import { expectExactHistory } from '../support/api.ts';
import { useServer } from '../support/server-process.ts';

// The four scenarios of the original request, on the seed's `/counter` routes, against `npm start`'s
// server in its own process: real HTTP, real SigV4, real stream.
describe('the seed counter', () => {
  const server = useServer();
  const client = server.client;

  beforeEach(async () => {
    // Each scenario starts from a counter that was never changed.
    const response = await client.delete('/counters/default');
    expect([204, 404]).toContain(response.status);
  });

  it('reads 0 before it is first changed', async () => {
    const response = await client.get('/counter');

    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({ name: 'default', value: 0 });
  });

  it('increments from 0 to 1', async () => {
    const response = await client.post('/counter');

    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({ name: 'default', value: 1, version: 1 });
    expect((await client.counter('/counter')).value).toBe(1);
  });

  it('reads 10 after an update to 10', async () => {
    const response = await client.put('/counter', { body: { value: 10 } });

    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({ value: 10 });
    expect((await client.counter('/counter')).value).toBe(10);
  });

  // 10,000 signed requests and as many history entries: minutes on a busy two-core machine.
  it('keeps every one of 50 concurrent clients x 200 increments, and the history records each exactly once', {
    timeout: 300_000,
  }, async () => {
    const clients = 50;
    const perClient = 200;
    const acknowledged: number[] = [];

    await Promise.all(
      Array.from({ length: clients }, async () => {
        for (let i = 0; i < perClient; i++) {
          const response = await client.post('/counter');
          expect(response.status, response.text).toBe(200);
          acknowledged.push((response.json as { version: number }).version);
        }
      }),
    );

    const total = clients * perClient;
    expect(acknowledged).toHaveLength(total);
    // Every acknowledged increment saw a distinct version: none was applied twice or lost.
    expect(new Set(acknowledged).size).toBe(total);
    expect(await client.counter('/counter')).toMatchObject({ value: total, version: total });
    const history = await client.historyOf('/counter', total, 60_000);
    expect(history).toHaveLength(total);
    expectExactHistory(history, total);
    expect(history.every((entry) => entry.op === 'increment' && entry.delta === 1)).toBe(true);
  });
});
