import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { accessPatterns } from '../../lib/access.ts';
import { useServer } from '../support/server-process.ts';
import type { CallOptions, Credentials } from '../support/signed-client.ts';

// docs/api.md section 2, route by route: who may call what on the local server, with principals whose
// permissions come from the same grants the stack gives other AWS principals (lib/access.ts).

const principal = (id: string): Credentials => ({ accessKeyId: id, secretAccessKey: `${id}-secret` });
const READER = principal('reader');
const INCREMENTER = principal('incrementer');
const SHOP_WRITER = principal('shop-writer');
const SHOP_READER = principal('shop-reader');

interface Call {
  id: string;
  method: string;
  path: string;
  body?: unknown;
}

// One concrete request per route, and per side of the `shop.` prefix where the route names a counter.
const CALLS: Call[] = [
  { id: 'list', method: 'GET', path: '/counters' },
  { id: 'get shop', method: 'GET', path: '/counters/shop.apples' },
  { id: 'get other', method: 'GET', path: '/counters/other.pears' },
  { id: 'history shop', method: 'GET', path: '/counters/shop.apples/history' },
  { id: 'history other', method: 'GET', path: '/counters/other.pears/history' },
  { id: 'increment shop', method: 'POST', path: '/counters/shop.apples' },
  { id: 'increment other', method: 'POST', path: '/counters/other.pears' },
  { id: 'set shop', method: 'PUT', path: '/counters/shop.apples', body: { value: 50 } },
  { id: 'set other', method: 'PUT', path: '/counters/other.pears', body: { value: 50 } },
  { id: 'delete shop', method: 'DELETE', path: '/counters/shop.apples' },
  { id: 'delete other', method: 'DELETE', path: '/counters/other.pears' },
  { id: 'seed get', method: 'GET', path: '/counter' },
  { id: 'seed increment', method: 'POST', path: '/counter' },
  { id: 'seed set', method: 'PUT', path: '/counter', body: { value: 50 } },
  { id: 'seed history', method: 'GET', path: '/counter/history' },
];

const ALL = CALLS.map((call) => call.id);
const READS = ['list', 'get shop', 'get other', 'history shop', 'history other', 'seed get', 'seed history'];

// Who may do what, written out by hand rather than derived from the matcher under test.
const ALLOWED: { who: string; options: CallOptions; allowed: string[] }[] = [
  { who: 'the admin', options: {}, allowed: ALL },
  { who: 'a reader', options: { credentials: READER }, allowed: READS },
  {
    who: 'an incrementer',
    options: { credentials: INCREMENTER },
    allowed: ['increment shop', 'increment other', 'seed increment'],
  },
  {
    who: 'a writer limited to shop.',
    options: { credentials: SHOP_WRITER },
    allowed: ['increment shop', 'set shop', 'delete shop'],
  },
  {
    who: 'a reader limited to shop.',
    options: { credentials: SHOP_READER },
    allowed: ['get shop', 'history shop'],
  },
  { who: 'an unsigned caller', options: { unsigned: true }, allowed: [] },
  {
    who: 'a caller with a bad signature',
    options: { credentials: { accessKeyId: 'local', secretAccessKey: 'not-the-secret' } },
    allowed: [],
  },
  { who: 'a caller with an unknown key', options: { credentials: principal('stranger') }, allowed: [] },
  {
    who: 'a signature ten minutes old',
    options: { signingDate: new Date(Date.now() - 10 * 60_000) },
    allowed: [],
  },
  { who: 'a signature for another region', options: { region: 'eu-west-1' }, allowed: [] },
  { who: 'a signature for another service', options: { service: 'lambda' }, allowed: [] },
];

describe('authorization, route by route', () => {
  const { client: admin } = useServer(() => {
    const principalsFile = join(process.env.TMPDIR ?? '/tmp', `principals-${process.pid}.json`);
    const entry = (credentials: Credentials, allow: string[]) => ({
      ...credentials,
      arn: `arn:aws:iam::000000000000:user/${credentials.accessKeyId}`,
      allow,
    });
    writeFileSync(
      principalsFile,
      JSON.stringify([
        entry(READER, accessPatterns('read')),
        entry(INCREMENTER, accessPatterns('increment')),
        entry(SHOP_WRITER, accessPatterns('write', 'shop.')),
        entry(SHOP_READER, accessPatterns('read', 'shop.')),
      ]),
    );
    return { env: { LOCAL_PRINCIPALS: principalsFile } };
  });

  const snapshot = async () => ({
    shop: (await admin.get('/counters/shop.apples')).text,
    other: (await admin.get('/counters/other.pears')).text,
    seed: (await admin.get('/counter')).text,
  });

  for (const { who, options, allowed } of ALLOWED) {
    it(`lets ${who} make exactly the calls granted, and a refused call changes nothing`, async () => {
      const outcomes: Record<string, string> = {};
      for (const call of CALLS) {
        // Each call starts from existing counters, so an allowed call answers 2xx rather than 404.
        await admin.put('/counters/shop.apples', { body: { value: 7 } });
        await admin.put('/counters/other.pears', { body: { value: 7 } });
        await admin.put('/counter', { body: { value: 7 } });
        const before = await snapshot();

        const response = await admin.send(call.method, call.path, { ...options, body: call.body });

        if (response.status === 403) {
          expect(response.json).toEqual({ message: 'Forbidden' });
          expect(await snapshot()).toEqual(before);
          outcomes[call.id] = 'refused';
        } else {
          expect(response.status, `${call.id}: ${response.text}`).toBeLessThan(300);
          outcomes[call.id] = 'allowed';
        }
      }

      expect(outcomes).toEqual(
        Object.fromEntries(CALLS.map((call) => [call.id, allowed.includes(call.id) ? 'allowed' : 'refused'])),
      );
    });
  }

  it('records the principal that made a change as its actor', async () => {
    await admin.put('/counters/shop.actor', { body: { value: 1 } });

    await admin.post('/counters/shop.actor', { credentials: SHOP_WRITER });

    const history = await admin.historyOf('/counters/shop.actor', 2);
    expect(history.map((entry) => entry.actor)).toEqual([
      'arn:aws:iam::000000000000:user/local-admin',
      'arn:aws:iam::000000000000:user/shop-writer',
    ]);
  });
});
