import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { CliIo } from '../../bin/cli/command.ts';
import { EXIT } from '../../bin/cli/exit-codes.ts';
import { runCli } from '../../bin/counter-cli.ts';
import { CounterClient } from '../../client/counter-client.ts';

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
async function cli(
  argv: string[],
  replies: (Response | Error)[] = [],
  env: NodeJS.ProcessEnv = {},
  extra: Partial<CliIo> & { tty?: boolean } = {},
) {
  const sent: { method: string; url: string; body: string | undefined }[] = [];
  const { tty, ...io } = extra;
  const stdout = Object.assign(new PassThrough(), tty === true ? { isTTY: true, columns: 80 } : {});
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
    ...io,
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

  it('bounds a counter with --min and --max, and removes one with none', async () => {
    const bounded = { ...COUNTER, name: 'stock', value: 50, version: 1, min: 0 };
    const run = await cli(['set', 'stock', '50', '--min', '0', '--max', 'none'], [reply(200, bounded)]);

    expect(run.code).toBe(EXIT.ok);
    expect(run.sent).toEqual([
      {
        method: 'PUT',
        url: 'http://127.0.0.1:3000/counters/stock',
        body: '{"value":50,"min":0,"max":null}',
      },
    ]);
    expect(run.out).toContain('stock = 50  (version 1, updated 2026-01-02T00:00:00.000Z, min 0)');
  });

  it('takes a negative bound as the value of --min, not as a positional', async () => {
    const run = await cli(
      ['set', 'floor', '-3', '--min', '-5'],
      [reply(200, { ...COUNTER, value: -3, min: -5 })],
    );

    expect(run.sent[0]?.body).toBe('{"value":-3,"min":-5}');
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

describe('counter --url', () => {
  it('says an empty --url is probably an unset variable, and takes an empty COUNTER_URL as unset', async () => {
    const empty = await cli(['--url', '', 'ls']);
    const unsetVariable = await cli(['get', 'page-views'], [reply(200, COUNTER)], { COUNTER_URL: '' });

    expect(empty.code).toBe(EXIT.usage);
    expect(empty.err).toContain('--url is empty (was the variable given to it unset?)');
    expect(empty.sent).toEqual([]);
    expect(unsetVariable.code).toBe(EXIT.ok);
    expect(unsetVariable.sent[0]?.url).toBe('http://127.0.0.1:3000/counters/page-views');
  });
});

describe('counter series', () => {
  const BUCKETS = [
    { start: '2026-01-01T10:00:00.000Z', delta: 2, count: 2, value: 2 },
    { start: '2026-01-01T10:02:00.000Z', delta: 4, count: 1, value: 6 },
  ];

  it('draws every page of buckets as a chart, asking for the interval and window given', async () => {
    const run = await cli(
      ['series', 'page-views', '--interval', 'minute', '--since', '2026-01-01T10:00:00Z'],
      [
        reply(200, BUCKETS.slice(0, 1), {
          link: '</counters/page-views/series?interval=minute&cursor=c1>; rel="next"',
        }),
        reply(200, BUCKETS.slice(1)),
      ],
    );

    expect(run.code).toBe(EXIT.ok);
    expect(run.sent.map((request) => request.url)).toEqual([
      'http://127.0.0.1:3000/counters/page-views/series?interval=minute&limit=1440&since=2026-01-01T10%3A00%3A00Z',
      'http://127.0.0.1:3000/counters/page-views/series?interval=minute&cursor=c1',
    ]);
    const lines = run.out.split('\n');
    expect(lines[0]).toBe('page-views, by minute (UTC)');
    expect(lines[1]).toBe('6 ┤  █');
    expect(lines[8]).toBe('2 ┤▁▁█');
    expect(lines[9]).toBe('  └───');
    expect(lines[11]).toBe('3 changes in 2 buckets (UTC, a column per minute); value 2 to 6');
  });

  it('prints one bucket per line with --json, and refuses an interval the API has not', async () => {
    const json = await cli(['series', 'page-views', '--json'], [reply(200, BUCKETS)]);
    const bad = await cli(['series', 'page-views', '--interval', 'week']);

    expect(json.sent[0]?.url).toBe(
      'http://127.0.0.1:3000/counters/page-views/series?interval=hour&limit=1440',
    );
    expect(
      json.out
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual(BUCKETS);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.err).toContain('--interval must be minute, hour or day; got week');
  });
});

describe('counter watch', () => {
  const entry = (version: number, value: number) => ({
    version,
    value,
    delta: 1,
    op: 'increment',
    created_at: `2026-01-02T00:00:0${version}.000Z`,
    actor: 'arn:aws:iam::000000000000:user/local-admin',
  });
  const notFound = () =>
    reply(404, { type: '/problems/not-found', title: 'Not found', status: 404, detail: 'No counter.' });

  /** Aborts the watch when it has slept `looks` times. */
  const stopAfter = (looks: number) => {
    const stop = new AbortController();
    let slept = 0;
    return {
      untilStopped: () => stop.signal,
      sleep: async () => {
        if (++slept >= looks) stop.abort();
      },
    };
  };

  it('prints a line per new state, not per look, until stopped, reading history only while it lags', async () => {
    const run = await cli(
      ['watch', 'page-views'],
      [
        reply(200, COUNTER),
        reply(200, [entry(1, 40), entry(2, 41), entry(3, 42)]),
        reply(200, COUNTER),
        notFound(),
      ],
      {},
      stopAfter(3),
    );

    expect(run.code).toBe(EXIT.ok);
    expect(run.out).toBe(
      'page-views = 42  (version 3, updated 2026-01-02T00:00:00.000Z)\npage-views does not exist\n',
    );
    expect(run.sent.map((request) => new URL(request.url).pathname)).toEqual([
      '/counters/page-views',
      '/counters/page-views/history',
      '/counters/page-views',
      '/counters/page-views',
    ]);
    expect(new URL(run.sent[1]?.url ?? '').searchParams.get('since')).toMatch(/^\d{4}-.*Z$/);
  });

  it('redraws a screen of the value and the latest changes, newest first, on a terminal', async () => {
    const run = await cli(
      ['watch', 'page-views', '--every', '0.5'],
      [reply(200, COUNTER), reply(200, [entry(2, 41), entry(3, 42)])],
      {},
      { ...stopAfter(1), tty: true },
    );

    expect(run.code).toBe(EXIT.ok);
    expect(run.out.startsWith('\x1b[H\x1b[J')).toBe(true);
    const screen = run.out.slice('\x1b[H\x1b[J'.length).split('\n');
    expect(screen[0]).toBe('page-views at http://127.0.0.1:3000/, every 0.5 s (Ctrl-C stops)');
    expect(screen[2]).toBe('page-views = 42  (version 3, updated 2026-01-02T00:00:00.000Z)');
    expect(screen.slice(4, 7)).toEqual([
      'latest changes, newest first:',
      'VERSION  OP         DELTA  VALUE  AT                        ACTOR',
      '      3  increment     +1     42  2026-01-02T00:00:03.000Z  arn:aws:iam::000000000000:user/local-admin',
    ]);
  });

  it('ends with the refusal when the API will not let it look', async () => {
    const run = await cli(['watch', 'page-views'], [reply(403, { message: 'Forbidden' })], {}, stopAfter(5));

    expect(run.code).toBe(EXIT.unreachable);
    expect(run.err).toContain('Forbidden [403]');
  });

  it('refuses a refresh period it cannot keep', async () => {
    const run = await cli(['watch', 'page-views', '--every', '0']);

    expect(run.code).toBe(EXIT.usage);
    expect(run.err).toContain('--every must be a number of seconds from 0.2 to 3600');
  });
});

describe('counter console', () => {
  it('serves the page on loopback and sends its calls on signed, refusing a foreign origin, until stopped', async () => {
    const stop = new AbortController();
    const signed: (string | null)[] = [];
    const stdout = new PassThrough();
    let out = '';
    const printed = new Promise<string>((resolve) =>
      stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const match = /console on (http:\/\/\S+)/.exec(out);
        if (match?.[1] !== undefined) resolve(match[1]);
      }),
    );
    const running = runCli(['console', '--port', '0'], {
      stdout,
      stderr: { write: () => undefined },
      stdin: Readable.from([]),
      env: { AWS_REGION: 'us-east-1' },
      untilStopped: () => stop.signal,
      makeClient: (options) =>
        new CounterClient({
          ...options,
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
          fetch: async (_input, init) => {
            signed.push(new Headers(init?.headers).get('authorization'));
            return reply(200, [COUNTER]);
          },
        }),
    });
    const url = await printed;

    const page = await fetch(url);
    const listed = await fetch(`${url}api/counters`);
    const foreign = await fetch(`${url}api/counters`, { headers: { origin: 'http://evil.example' } });
    stop.abort();

    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script type="module" src="/app.js"></script>');
    expect(await listed.json()).toEqual([COUNTER]);
    expect(listed.headers.get('authorization')).toBeNull();
    expect(signed).toEqual([expect.stringMatching(/^AWS4-HMAC-SHA256 Credential=local\//)]);
    expect(foreign.status).toBe(403);
    expect(await running).toBe(EXIT.ok);
  });

  it('refuses a port that is not one', async () => {
    const run = await cli(['console', '--port', '70000']);

    expect(run.code).toBe(EXIT.usage);
    expect(run.err).toContain('--port must be a port number from 0 to 65535');
  });
});
