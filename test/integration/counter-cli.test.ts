import { beforeAll, describe, expect, it } from 'vitest';
import { CounterClient } from '../../client/counter-client.ts';
import { runInRepo } from '../support/repo-process.ts';
import { useServer } from '../support/server-process.ts';
import { ADMIN } from '../support/signed-client.ts';

/** Runs a command in the repository as a user would type it. */
const run = (command: string, args: string[], env: Record<string, string>) =>
  runInRepo(command, args, { env });

// The command line as people run it: through npm, and left running until Ctrl-C.
describe('counter CLI, run as a program', () => {
  const server = useServer();
  let client: CounterClient;

  beforeAll(() => {
    client = new CounterClient({ url: server.url, credentials: ADMIN });
  });

  it('prints nothing but the JSON on stdout through `npm run -s counter`, so it pipes into jq', async () => {
    await client.increment('cli.npm', 7);

    const npm = run('npm', ['run', '-s', 'counter', '--', 'get', 'cli.npm', '--json'], {
      COUNTER_URL: server.url,
    });

    expect(await npm.exited, npm.stderr()).toBe(0);
    expect(JSON.parse(npm.stdout())).toMatchObject({ name: 'cli.npm', value: 7, version: 1 });
  });

  it('watches a counter change and stops cleanly at Ctrl-C', async () => {
    await client.increment('cli.watch', 1);
    const watch = run(
      process.execPath,
      ['--import', 'tsx', 'bin/counter-cli.ts', 'watch', 'cli.watch', '--every', '0.2'],
      {
        COUNTER_URL: server.url,
      },
    );
    const waitFor = async (text: string) => {
      const deadline = Date.now() + 20_000;
      while (!watch.stdout().includes(text)) {
        if (Date.now() > deadline) throw new Error(`no "${text}" in: ${watch.stdout()} ${watch.stderr()}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };

    await waitFor('cli.watch = 1  (version 1');
    await client.increment('cli.watch', 4);
    await waitFor('cli.watch = 5  (version 2');
    watch.child.kill('SIGINT');

    expect(await watch.exited).toBe(0);
    expect(watch.stderr()).toBe('');
  });
});
