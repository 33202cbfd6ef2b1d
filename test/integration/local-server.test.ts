import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { api, expectExactHistory } from '../support/api.ts';
import { useServers } from '../support/server-process.ts';

describe('npm start (bin/local.ts)', () => {
  // SIGTERM, so each server stops the engine it started; a killed one would leave its engine running.
  const start = useServers('SIGTERM');

  it('answers /health and /openapi.json without a signature once it prints its URL', async () => {
    const server = await start();

    const health = await fetch(`${server.url}/health`);
    const openapi = await fetch(`${server.url}/openapi.json`);

    expect(health.status).toBe(200);
    expect(openapi.status).toBe(200);
    expect(((await openapi.json()) as { openapi: string }).openapi).toMatch(/^3\.1/);
  });

  it('stops cleanly on SIGTERM, exiting 0', async () => {
    const server = await start();

    const code = await server.stop('SIGTERM');

    expect(code).toBe(0);
  });

  it('stops the server and its engine when `npm start` itself gets SIGTERM, freeing the port and saying so', async () => {
    // The process a process manager or a container signals is npm, not the server it runs.
    const server = await start({ npmStart: true });
    expect((await fetch(`${server.url}/health`)).status).toBe(200);

    const code = await server.stop('SIGTERM');

    expect(code).toBe(0);
    expect(server.stdout()).toMatch(/Counter service stopped\./);
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();
    await expect(fetch(server.engineUrl)).rejects.toThrow();
  });

  it('keeps its data in LOCAL_DB_PATH and, started again, resumes the stream so history stays complete and exact', async () => {
    const first = await start();
    const before = api(first.url);
    for (let i = 0; i < 20; i++) expect((await before.post('/counters/restart')).status).toBe(200);
    // Stop while the consumer may still be behind: the position it saved must carry over.
    expect(await first.stop('SIGTERM')).toBe(0);
    expect(existsSync(`${first.dataDir}/counters.db`)).toBe(true);

    const second = await start({ dataDir: first.dataDir });
    const after = api(second.url);
    for (let i = 0; i < 5; i++) expect((await after.post('/counters/restart')).status).toBe(200);

    expect((await after.counter('/counters/restart')).value).toBe(25);
    const history = await after.historyOf('/counters/restart', 25);
    expect(history).toHaveLength(25);
    expectExactHistory(history, 25);
  });
});
