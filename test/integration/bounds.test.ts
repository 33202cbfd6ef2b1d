import { describe, expect, it } from 'vitest';
import { expectExactHistory } from '../support/api.ts';
import { useServer } from '../support/server-process.ts';

// Bounded counters over real HTTP against the local engine: every refusal is DynamoDB's own condition
// on the one UpdateItem (change-rules.ts withinBounds), under real concurrency.
describe('bounded counters', () => {
  const server = useServer();
  const client = server.client;

  it('leaves exactly 0 of a stock of 50 after 200 concurrent decrements: 50 acknowledged, 150 refused', async () => {
    await client.put('/counters/bounds.stock', { body: { value: 50, min: 0 } });

    const answers = await Promise.all(
      Array.from({ length: 200 }, () => client.post('/counters/bounds.stock', { body: { by: -1 } })),
    );

    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(50);
    expect(statuses.filter((status) => status === 409)).toHaveLength(150);
    const refusal = answers.find((answer) => answer.status === 409);
    expect(refusal?.headers.get('content-type')).toBe('application/problem+json');
    expect(refusal?.json).toMatchObject({
      type: '/problems/out-of-bounds',
      status: 409,
      detail:
        'Counter "bounds.stock" is 0; subtracting 1 would take it below its min 0, so it was not applied.',
    });
    const versions = answers.flatMap((answer) =>
      answer.status === 200 ? [(answer.json as { version: number }).version] : [],
    );
    expect(new Set(versions).size).toBe(50);
    expect(await client.counter('/counters/bounds.stock')).toMatchObject({ value: 0, version: 51, min: 0 });
    const history = await client.historyOf('/counters/bounds.stock', 51);
    expectExactHistory(history, 0);
  });

  it('shows bounds on GET, keeps them through a set that leaves them out, and removes one given null', async () => {
    const created = await client.put('/counters/bounds.seats', { body: { value: 0, min: 0, max: 10 } });
    const kept = await client.put('/counters/bounds.seats', { body: { value: 4 } });
    const opened = await client.put('/counters/bounds.seats', { body: { value: 4, max: null } });

    expect(created.json).toMatchObject({ value: 0, min: 0, max: 10 });
    expect(kept.json).toMatchObject({ value: 4, min: 0, max: 10, version: 2 });
    expect(opened.json).toMatchObject({ value: 4, min: 0, version: 3 });
    expect(opened.json).not.toHaveProperty('max');
    const history = await client.historyOf('/counters/bounds.seats', 3);
    expect(
      history.map((entry) => [entry.value, 'max' in entry ? (entry as { max?: number }).max : 'none']),
    ).toEqual([
      [0, 10],
      [4, 10],
      [4, 'none'],
    ]);
  });

  it('refuses a set outside a bound it keeps with 409, and answers the same refusal to a keyed retry', async () => {
    await client.put('/counters/bounds.quota', { body: { value: 5, max: 10 } });
    const key = { 'idempotency-key': 'bounds-quota-1' };

    const first = await client.put('/counters/bounds.quota', { body: { value: 11 }, headers: key });
    const retry = await client.put('/counters/bounds.quota', { body: { value: 11 }, headers: key });

    expect(first.status).toBe(409);
    expect(first.json).toMatchObject({ type: '/problems/out-of-bounds' });
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.json).toEqual(first.json);
    expect(await client.counter('/counters/bounds.quota')).toMatchObject({ value: 5, version: 1 });
  });

  it.each([
    ['a min above max', { value: 5, min: 6, max: 4 }],
    ['a value below the min it gives', { value: -1, min: 0 }],
    ['a value above the max it gives', { value: 11, max: 10 }],
    ['a bound that is not a whole number', { value: 1, min: '0' }],
  ])('answers 400 to a set with %s, changing nothing', async (_, body) => {
    const response = await client.put('/counters/bounds.bad', { body });

    expect(response.status).toBe(400);
    expect(response.json).toMatchObject({ type: '/problems/invalid-request' });
    expect((await client.get('/counters/bounds.bad')).status).toBe(404);
  });

  it('refuses bounds for a sharded counter with 409 /problems/sharded, creating nothing', async () => {
    const response = await client.put('/counters/bounds.hot', { body: { value: 0, shards: 4, min: 0 } });

    expect(response.status).toBe(409);
    expect(response.json).toMatchObject({ type: '/problems/sharded' });
    expect((await client.get('/counters/bounds.hot')).status).toBe(404);
  });
});
