import { describe, expect, it } from 'vitest';
import { CounterClient } from '../../client/counter-client.ts';
import { LOCAL_AWS_ENV, runInRepo } from '../support/repo-process.ts';
import { useServer } from '../support/server-process.ts';
import { ADMIN } from '../support/signed-client.ts';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function runSmoke(args: string[], env: Record<string, string>): Promise<Run> {
  const smoke = runInRepo(process.execPath, ['--import', 'tsx', 'scripts/smoke.ts', ...args], { env });
  const code = await smoke.exited;
  return { code, stdout: smoke.stdout(), stderr: smoke.stderr() };
}

const LOCAL_KEYS = LOCAL_AWS_ENV;

// `npm run smoke` against the local server, as it would run against a deployment.
describe('the smoke script', () => {
  const server = useServer();

  it('passes every scenario against a healthy server, and deletes its counter', async () => {
    // 50 concurrent clients as on a deployment, with fewer increments each to keep CI quick: every
    // change is keyed, and keyed changes to one hot counter contend (429s the client retries).
    const run = await runSmoke(['--url', server.url, '--clients', '50', '--per-client', '4'], LOCAL_KEYS);

    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toMatch(
      /PASS {2}50 concurrent clients x 4 increments end exact.*value 210 at version 202/,
    );
    expect(run.stdout).toMatch(
      /PASS {2}the history eventually holds every version exactly once.*versions 1\.\.202/,
    );
    const name = /on counter (smoke-\S+)/.exec(run.stdout)?.[1] ?? 'no counter named in the report';
    const client = new CounterClient({ url: server.url, credentials: ADMIN });
    await expect(client.get(name)).rejects.toMatchObject({ status: 404 });
  });

  it('fails with a non-zero exit when its requests are refused', async () => {
    const run = await runSmoke(['--url', server.url], { ...LOCAL_KEYS, AWS_SECRET_ACCESS_KEY: 'wrong' });

    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/FAIL {2}GET \/counter .*403/);
    expect(run.stdout).toContain('smoke test FAILED');
  });

  it('refuses bad usage with exit code 2', async () => {
    const run = await runSmoke(['--url', server.url, '--clients', 'many'], LOCAL_KEYS);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--clients must be a whole number');
  });
});
