import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { EXIT, negativesAsPositionals, runCli } from '../../bin/counter-cli.ts';
import { CounterClient } from '../../client/counter-client.ts';
import { Progress } from '../../client/progress.ts';

const COUNTER = {
  name: 'page-views',
  value: 42,
  version: 3,
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-02T00:00:00.000Z',
};

const reply = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });

/** Runs the CLI against scripted answers; returns what it printed, what it sent and its exit code. */
async function cli(argv: string[], replies: (Response | Error)[] = [], env: NodeJS.ProcessEnv = {}) {
  const sent: { method: string; url: string; body: string | undefined }[] = [];
  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  let err = '';
  const code = await runCli(argv, {
    stdout,
    stderr: {
      write: (text: string) => {
        err += text;
      },
    },
    stdin: Readable.from([]),
    env: { AWS_REGION: 'us-east-1', ...env },
    makeClient: (options) =>
      new CounterClient({
        ...options,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        sleep: async () => undefined,
        fetch: async (input, init) => {
          sent.push({
            method: init?.method ?? 'GET',
            url: String(input),
            body: typeof init?.body === 'string' ? init.body : undefined,
          });
          const next = replies.shift();
          if (next === undefined) throw new Error('no reply scripted');
          if (next instanceof Error) throw next;
          return next;
        },
      }),
  });
  return { code, out, err, sent };
}

describe('counter CLI', () => {
  it('adds a negative amount given as a plain argument, and prints the counter readably', async () => {
    const run = await cli(['inc', 'page-views', '-5'], [reply(200, COUNTER)]);

    expect(run.code).toBe(EXIT.ok);
    expect(run.sent).toEqual([
      { method: 'POST', url: 'http://127.0.0.1:3000/counters/page-views', body: '{"by":-5}' },
    ]);
    expect(run.out).toBe('page-views = 42  (version 3, updated 2026-01-02T00:00:00.000Z)\n');
  });

  it('prints JSON with --json, at the URL from COUNTER_URL, with If-Match from --if-match', async () => {
    const run = await cli(['set', 'page-views', '42', '--json', '--if-match', '2'], [reply(200, COUNTER)], {
      COUNTER_URL: 'http://127.0.0.1:4000',
    });

    expect(run.code).toBe(EXIT.ok);
    expect(run.sent[0]).toMatchObject({ method: 'PUT', url: 'http://127.0.0.1:4000/counters/page-views' });
    expect(JSON.parse(run.out)).toEqual(COUNTER);
  });

  it('lists every page as a table, and as JSON Lines with --json', async () => {
    const pages = () => [
      reply(200, [COUNTER], { link: '</counters?limit=100&cursor=x>; rel="next"' }),
      reply(200, [{ ...COUNTER, name: 'signups', value: -7, version: 12 }]),
    ];

    const table = await cli(['ls'], pages());
    const lines = await cli(['ls', '--json'], pages());

    expect(table.out.split('\n')).toEqual([
      'NAME        VALUE  VERSION  UPDATED',
      'page-views     42        3  2026-01-02T00:00:00.000Z',
      'signups        -7       12  2026-01-02T00:00:00.000Z',
      '',
    ]);
    expect(
      lines.out
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line).name),
    ).toEqual(['page-views', 'signups']);
  });

  it('exits 1 with the problem detail when the API refuses', async () => {
    const run = await cli(
      ['get', 'nope'],
      [
        reply(404, {
          type: '/problems/not-found',
          title: 'Not found',
          status: 404,
          detail: 'There is no counter named "nope".',
        }),
      ],
    );

    expect(run.code).toBe(EXIT.failed);
    expect(run.err).toBe('counter: There is no counter named "nope". [404 not-found]\n');
  });

  it('exits 3 when the request is not allowed or the server cannot be reached', async () => {
    const forbidden = await cli(['get', 'a'], [reply(403, { message: 'Forbidden' })]);
    const refused = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }),
    });
    const unreachable = await cli(['get', 'a'], [refused, refused, refused]);

    expect(forbidden.code).toBe(EXIT.unreachable);
    expect(forbidden.err).toContain('Forbidden [403]');
    expect(unreachable.code).toBe(EXIT.unreachable);
    expect(unreachable.err).toContain('ECONNREFUSED');
  });

  it('creates a hot counter spread over shards with --shards, and keeps the shards in its JSON', async () => {
    const sharded = { ...COUNTER, value: 0, version: 1, shards: 8 };
    const run = await cli(['set', 'page-views', '0', '--shards', '8', '--json'], [reply(200, sharded)]);

    expect(run.code).toBe(EXIT.ok);
    expect(run.sent).toEqual([
      { method: 'PUT', url: 'http://127.0.0.1:3000/counters/page-views', body: '{"value":0,"shards":8}' },
    ]);
    expect(JSON.parse(run.out)).toEqual(sharded);
  });

  it('exits 2 on usage errors without calling the API', async () => {
    const runs = await Promise.all([
      cli(['set', 'a', '0', '--shards', '33']),
      cli(['set', 'a', '0', '--shards', 'many']),
      cli([]),
      cli(['frobnicate']),
      cli(['set', 'a', '1.5']),
      cli(['inc', 'a', '1e3']),
      cli(['get']),
      cli(['get', 'a', 'b']),
      cli(['get', 'a', '--verbose']),
      cli(['rm', 'a', '--if-match', 'latest']),
    ]);

    expect(runs.map((run) => run.code)).toEqual(Array(10).fill(EXIT.usage));
    expect(runs.every((run) => run.sent.length === 0 && run.err.includes('counter --help'))).toBe(true);
  });

  it('prints its usage with --help', async () => {
    const run = await cli(['--help']);

    expect(run.code).toBe(EXIT.ok);
    expect(run.out).toMatch(/^Usage: counter \[options\] <command>/);
    expect(run.out).toContain('Exit codes');
  });
});

describe('negativesAsPositionals', () => {
  it('moves negative numbers after --, leaving option values where they are', () => {
    expect(negativesAsPositionals(['inc', 'a', '-5', '--json'])).toEqual(['inc', 'a', '--json', '--', '-5']);
    expect(negativesAsPositionals(['set', 'a', '--if-match', '3', '-1'])).toEqual([
      'set',
      'a',
      '--if-match',
      '3',
      '--',
      '-1',
    ]);
    expect(negativesAsPositionals(['inc', 'a', '7'])).toEqual(['inc', 'a', '7']);
  });
});

describe('Progress', () => {
  it('draws a bar in place on a terminal, then replaces it with the summary', () => {
    let written = '';
    let now = 0;
    const progress = new Progress(
      {
        isTTY: true,
        columns: 80,
        write: (text: string) => {
          written += text;
        },
      },
      'import',
      () => now,
    );

    progress.update('1 counters', 25, 100);
    now = 50;
    progress.update('2 counters', 50, 100);
    now = 200;
    progress.update('3 counters', 50, 100);
    progress.finish('imported 3 counters');

    expect(written).toBe(
      '\r\x1b[Kimport [#####---------------]  25% 1 counters' +
        '\r\x1b[Kimport [##########----------]  50% 3 counters' +
        '\r\x1b[Kimported 3 counters\n',
    );
  });

  it('writes only the summary line when not on a terminal', () => {
    let written = '';
    const progress = new Progress(
      {
        write: (text: string) => {
          written += text;
        },
      },
      'export',
    );

    progress.update('10 counters');
    progress.finish('exported 10 counters');

    expect(written).toBe('exported 10 counters\n');
  });
});
