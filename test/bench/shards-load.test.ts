import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { listenOnLoopback } from '../../bench/capacity-proxy.ts';
import { LoadDriver } from '../../bench/load-driver.ts';
import { incrementLoad } from '../../bench/shards-load.ts';

/** Answers in turn: 200; 204 preferred; 204 not; 429 with Retry-After; 429 without, not JSON; 500. */
const SCRIPT: { status: number; headers: Record<string, string>; body: string }[] = [
  { status: 200, headers: {}, body: '{"value":1}' },
  { status: 204, headers: { 'preference-applied': 'return=minimal' }, body: '' },
  { status: 204, headers: {}, body: '' },
  { status: 429, headers: { 'retry-after': '1' }, body: '{"type":"urn:throttled"}' },
  { status: 429, headers: {}, body: 'busy' },
  { status: 500, headers: {}, body: '{"title":"Internal"}' },
];

describe('a sharding phase through the shared load driver', () => {
  let server: Server | undefined;
  let driver: LoadDriver | undefined;

  afterEach(async () => {
    driver?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('counts 200 and 204 as acknowledged, and tells 429s and other answers apart', async () => {
    // Prepare
    const answered = SCRIPT.map(() => 0);
    let sent = 0;
    let prefer = '';
    server = createServer((req, res) => {
      prefer = String(req.headers.prefer);
      const index = sent++ % SCRIPT.length;
      answered[index] = (answered[index] ?? 0) + 1;
      const { status, headers, body } = SCRIPT[index] ?? { status: 500, headers: {}, body: '' };
      res.writeHead(status, headers).end(body);
    });
    driver = new LoadDriver(await listenOnLoopback(server), 2);

    // Act
    const load = await incrementLoad(driver, { name: 'hot', seconds: 0.3, connections: 2, minimal: true });

    // Assess: each kind of answer counted where it belongs, exactly as many as were sent.
    const times = (index: number) => answered[index] ?? 0;
    expect(sent).toBeGreaterThanOrEqual(SCRIPT.length);
    expect(prefer).toBe('return=minimal');
    expect(load).toMatchObject({
      ok: times(0),
      noContent: times(1) + times(2),
      acknowledged: times(0) + times(1) + times(2),
      preferenceApplied: times(1),
      throttled: times(3) + times(4),
      throttledWithoutRetryAfter: times(4),
      throttledTypes: { 'urn:throttled': times(3), '(not JSON)': times(4) },
      other: { '500': times(5) },
    });
    expect(load.otherBodies[0]).toBe('500 {"title":"Internal"}');
    expect(load.acknowledgedLatencyMs.n).toBe(load.acknowledged);
    expect(load.throttledLatencyMs.n).toBe(load.throttled);
  });
});
