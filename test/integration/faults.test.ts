import { afterEach, describe, expect, it } from 'vitest';
import { localTableNames } from '../../lib/local/table-names.ts';
import { api, expectExactHistory } from '../support/api.ts';
import { useEngine } from '../support/local-engine.ts';
import { useServers } from '../support/server-process.ts';
import { type CallResult, call, eventually } from '../support/signed-client.ts';

// docs/api.md section 4 under fault injection: the engine keeps running behind a proxy that throttles
// or swallows answers, while the server (the Lambdas) is killed and started again.
// The stream consumer and the poller's checkpoints write through the same proxy: a fault meant for
// one request names its table, so it cannot fall on their writes instead.
const TABLES = localTableNames();

describe('faults', () => {
  const { proxy } = useEngine({ faultProxy: true });
  // Killed, as a Lambda's host can be: nothing of a server's shutdown may be needed for correctness.
  const startWith = useServers('SIGKILL', () => ({
    env: { DYNAMODB_ENDPOINT: proxy.url, IDEMPOTENCY_LEASE_MS: '1000' },
  }));
  const start = (env: Record<string, string> = {}) => startWith({ env });

  // Registered after useServers, so it runs before the servers are stopped (after hooks run in reverse).
  afterEach(() => {
    proxy.setRules([]);
    proxy.forgetInjected();
  });

  it('counts once a keyed increment whose write succeeded but whose answer was lost, when the client retries', async () => {
    // One attempt per SDK call, so the lost answer surfaces as a failure, as a Lambda dying would.
    const server = await start({ DYNAMODB_MAX_ATTEMPTS: '1' });
    const client = api(server.url);
    // The keyed increment's one UpdateItem is its write to the counter (the claim is a PutItem).
    proxy.setRules([{ operation: 'UpdateItem', table: TABLES.counters, fault: 'drop-response', times: 1 }]);
    const key = { 'idempotency-key': 'lost-answer-1' };

    const first = await client.post('/counters/fault.lost', { body: { by: 5 }, headers: key });
    const retry = await client.post('/counters/fault.lost', { body: { by: 5 }, headers: key });

    expect(proxy.injected['drop-response UpdateItem']).toBe(1);
    expect(first.status).toBeGreaterThanOrEqual(500);
    expect(retry.status).toBe(200);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.json).toMatchObject({ value: 5, version: 1 });
    expect(await client.counter('/counters/fault.lost')).toMatchObject({ value: 5, version: 1 });
  });

  it('applies once a keyed increment whose function died after its claim, before its write: the retry probes, the consumer passes the probe, the retry takes over', async () => {
    // One attempt per SDK call: the claim's lost answer fails the request, as a function dying would.
    const server = await start({ DYNAMODB_MAX_ATTEMPTS: '1' });
    const client = api(server.url);
    await client.put('/counters/fault.claimed', { body: { value: 10 } });
    await client.historyOf('/counters/fault.claimed', 1);
    proxy.setRules([{ operation: 'PutItem', table: TABLES.idempotency, fault: 'drop-response', times: 1 }]);
    const key = { 'idempotency-key': 'claimed-then-died-1' };

    const first = await client.post('/counters/fault.claimed', { body: { by: 5 }, headers: key });
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // past the claim's 1 s lease
    const retry = await client.post('/counters/fault.claimed', { body: { by: 5 }, headers: key });
    const again = await client.post('/counters/fault.claimed', { body: { by: 5 }, headers: key });

    expect(proxy.injected['drop-response PutItem']).toBe(1);
    expect(first.status).toBeGreaterThanOrEqual(500);
    expect(retry.status, retry.text).toBe(200);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(retry.json).toMatchObject({ value: 15, version: 2 });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.json).toEqual(retry.json);
    expect(await client.counter('/counters/fault.claimed')).toMatchObject({ value: 15, version: 2 });
    const history = await client.historyOf('/counters/fault.claimed', 2);
    expect(history.map((entry) => entry.value)).toEqual([10, 15]);
  });

  it('does not send a plain increment again when its answer was lost, so it is applied once, not twice', async () => {
    const server = await start();
    const client = api(server.url);
    await client.put('/counters/fault.ambiguous', { body: { value: 100 } });
    proxy.setRules([{ operation: 'UpdateItem', table: TABLES.counters, fault: 'drop-response', times: 1 }]);

    const response = await client.post('/counters/fault.ambiguous');

    expect(proxy.injected['drop-response UpdateItem']).toBe(1);
    // The write landed but nobody heard: the caller is told it failed (and may retry with a key)...
    expect(response.status).toBe(500);
    // ...rather than the SDK re-sending the ADD and counting it twice.
    expect(await client.counter('/counters/fault.ambiguous')).toMatchObject({ value: 101, version: 2 });
  });

  it('answers a throttled table with 429 and Retry-After, applies nothing, and applies a keyed retry once', async () => {
    const server = await start();
    const client = api(server.url);
    await client.put('/counters/fault.throttled', { body: { value: 10 } });
    proxy.setRules([
      { operation: 'UpdateItem', fault: 'throttle' },
      { operation: 'TransactWriteItems', fault: 'throttle' },
    ]);

    const plain = await client.post('/counters/fault.throttled');
    const keyed = await client.post('/counters/fault.throttled', {
      headers: { 'idempotency-key': 'throttled-1' },
    });
    proxy.setRules([]);
    const unchanged = await client.counter('/counters/fault.throttled');
    const retried = await client.post('/counters/fault.throttled', {
      headers: { 'idempotency-key': 'throttled-1' },
    });

    for (const response of [plain, keyed]) {
      expect(response.status, response.text).toBe(429);
      expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
    }
    expect(unchanged).toMatchObject({ value: 10, version: 1 });
    expect(retried.status).toBe(200);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    expect(await client.counter('/counters/fault.throttled')).toMatchObject({ value: 11, version: 2 });
  });

  it('keeps every acknowledged increment when the server is killed under load, and the history resumes complete and exact', async () => {
    const first = await start();
    let acknowledged = 0;
    let unanswered = 0;
    let running = true;
    const workers = Array.from({ length: 8 }, async () => {
      while (running) {
        try {
          const response = await call(first.url, 'POST', '/counters/fault.killed');
          if (response.status === 200) acknowledged++;
          else unanswered++;
        } catch {
          unanswered++;
          return;
        }
      }
    });
    // Kill once the load is well under way, however fast this machine is today.
    await eventually(
      async () => (acknowledged >= 30 ? true : undefined),
      60_000,
      '30 acknowledged increments',
    );

    await first.stop('SIGKILL');
    running = false;
    await Promise.all(workers);
    const second = await start();
    const client = api(second.url);
    const counter = await client.counter('/counters/fault.killed');

    expect(acknowledged).toBeGreaterThanOrEqual(30);
    // Nothing acknowledged is lost; at most the requests cut off by the kill were applied unanswered.
    expect(counter.value).toBeGreaterThanOrEqual(acknowledged);
    expect(counter.value).toBeLessThanOrEqual(acknowledged + unanswered);
    expect(counter.version).toBe(counter.value);
    const history = await client.historyOf('/counters/fault.killed', counter.value);
    expect(history).toHaveLength(counter.value);
    expectExactHistory(history, counter.value);
  });

  it('ends with exactly the distinct increments made, when clients retry with keys through throttling, lost answers and killed servers', async () => {
    const clients = 8;
    const perClient = 40;
    let server = await start();
    let restarting: Promise<void> | undefined;
    // A keyed increment is a PutItem (the claim) and UpdateItems (the write, the answer); the stream
    // consumer's UpdateItems (rollups, keyed records) and reads go through the same faults.
    proxy.setRules([
      { operation: 'UpdateItem', fault: 'drop-response', probability: 0.05 },
      { operation: 'UpdateItem', fault: 'throttle', probability: 0.1 },
      { operation: 'PutItem', fault: 'drop-response', probability: 0.03 },
      { operation: 'PutItem', fault: 'throttle', probability: 0.05 },
      { operation: 'GetRecords', fault: 'drop-response', probability: 0.05 },
    ]);
    const answers: CallResult[] = [];

    const incrementOnce = async (key: string): Promise<void> => {
      for (let attempt = 0; attempt < 400; attempt++) {
        try {
          await restarting;
          const response = await call(server.url, 'POST', '/counters/fault.jepsen', {
            headers: { 'idempotency-key': key },
          });
          if (response.status === 200) {
            answers.push(response);
            return;
          }
          // 409 (in flight), 429 (throttled) and 5xx are the retryable answers; anything else is a bug.
          expect([409, 429, 500, 502, 503], response.text).toContain(response.status);
        } catch (error) {
          if (error instanceof Error && error.name === 'AssertionError') throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 80));
      }
      throw new Error(`increment ${key} was never acknowledged`);
    };

    const killer = (async () => {
      for (let kill = 0; kill < 2; kill++) {
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        restarting = (async () => {
          await server.stop('SIGKILL');
          server = await start();
        })();
        await restarting;
        restarting = undefined;
      }
    })();
    await Promise.all([
      killer,
      ...Array.from({ length: clients }, async (_, c) => {
        for (let i = 0; i < perClient; i++) await incrementOnce(`jepsen-${c}-${i}`);
      }),
    ]);
    proxy.setRules([]);

    const total = clients * perClient;
    const client = api(server.url);
    expect(answers).toHaveLength(total);
    expect(await client.counter('/counters/fault.jepsen')).toMatchObject({ value: total, version: total });
    const history = await client.historyOf('/counters/fault.jepsen', total);
    expect(history).toHaveLength(total);
    expectExactHistory(history, total);
    // The faults really happened.
    expect(Object.values(proxy.injected).reduce((sum, n) => sum + n, 0)).toBeGreaterThan(10);
  });
});
