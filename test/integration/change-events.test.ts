import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { HistoryBody } from '../support/api.ts';
import { useServer } from '../support/server-process.ts';
import { eventually } from '../support/signed-client.ts';

/** A line of the events file: an entry as PutEvents would send it. */
interface EventLine {
  Source: string;
  DetailType: string;
  Detail: string;
  EventBusName: string;
  Time: string;
}

interface Detail {
  name: string;
  incarnation: string;
  op: string;
  created_at: string;
  version?: number;
  value?: number;
  previous_value?: number;
  delta?: number;
  actor?: string;
  min?: number;
}

// Issue 15's change events as `npm start` writes them (LOCAL_EVENTS_FILE), after a mixed run through
// the real server, stream and consumer: exactly one event per history entry, in version order per
// counter, and one per deleted counter. About 10 s, most of it the server's start and the history's lag.
describe('change events in the local events file', () => {
  const server = useServer();
  const client = server.client;
  let eventsFile: string;

  beforeAll(() => {
    eventsFile = join(server.process.dataDir, 'events.jsonl');
  });

  const ok = async (response: Promise<{ status: number; text: string }>, status = 200) => {
    const answer = await response;
    expect(answer.status, answer.text).toBe(status);
  };

  const readEvents = async (): Promise<{ line: EventLine; detail: Detail }[]> => {
    const text = await readFile(eventsFile, 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter((line) => line !== '')
      .map((raw) => {
        const line = JSON.parse(raw) as EventLine;
        return { line, detail: JSON.parse(line.Detail) as Detail };
      });
  };

  it('holds exactly one event per history entry, in version order per counter, and one per deletion', async () => {
    // Act: increments, sets, keyed changes (each repeated), a bounded counter, a sharded counter under
    // concurrent increments, and a counter deleted and created again; the counters side by side.
    await Promise.all([
      (async () => {
        await ok(client.post('/counters/ev.plain'));
        await ok(client.post('/counters/ev.plain', { body: { by: 5 } }));
        await ok(client.put('/counters/ev.plain', { body: { value: 100 } }));
        await ok(client.post('/counters/ev.plain', { body: { by: -2 } }));
      })(),
      (async () => {
        for (const [key, body] of [
          ['k-1', { by: 2 }],
          ['k-1', { by: 2 }],
          ['k-2', { by: 3 }],
          ['k-2', { by: 3 }],
        ] as const) {
          await ok(client.post('/counters/ev.keyed', { body, headers: { 'Idempotency-Key': key } }));
        }
        await ok(
          client.put('/counters/ev.keyed', { body: { value: 1 }, headers: { 'Idempotency-Key': 'k-3' } }),
        );
      })(),
      (async () => {
        await ok(client.put('/counters/ev.stock', { body: { value: 10, min: 0 } }));
        await ok(client.post('/counters/ev.stock', { body: { by: -4 } }));
      })(),
      (async () => {
        await ok(client.put('/counters/ev.hot', { body: { value: 0, shards: 4 } }));
        await Promise.all(Array.from({ length: 24 }, () => ok(client.post('/counters/ev.hot'))));
      })(),
      (async () => {
        await ok(client.post('/counters/ev.gone', { body: { by: 7 } }));
        await ok(client.post('/counters/ev.gone'));
        await ok(client.delete('/counters/ev.gone'), 204);
        await ok(client.post('/counters/ev.gone', { body: { by: 40 } }));
      })(),
    ]);

    // Assess: every counter's history as the API shows it, once the stream has carried it.
    const expected = { 'ev.plain': 4, 'ev.keyed': 3, 'ev.stock': 2, 'ev.hot': 25, 'ev.gone': 1 };
    const histories = Object.fromEntries(
      await Promise.all(
        Object.entries(expected).map(async ([name, count]) => {
          const entries = await client.historyOf(`/counters/${name}`, count);
          expect(entries).toHaveLength(count);
          return [name, entries] as const;
        }),
      ),
    );
    // 37 changes (ev.gone's first two among them, whose history went with it) and a deletion; the
    // file follows the history by a moment.
    const events = await eventually(
      async () => {
        const all = await readEvents();
        return all.length >= 38 ? all : undefined;
      },
      10_000,
      '38 change events in the events file',
    );
    expect(events).toHaveLength(38);

    for (const { line, detail } of events) {
      expect(line).toMatchObject({
        Source: 'counter-service',
        EventBusName: 'default',
        Time: detail.created_at,
      });
      expect(['Counter Changed', 'Counter Deleted']).toContain(line.DetailType);
    }
    const changesOf = (name: string) =>
      events.filter(({ line, detail }) => line.DetailType === 'Counter Changed' && detail.name === name);
    const asEntry = ({ detail }: { detail: Detail }): HistoryBody & { previous_value?: number } => ({
      version: detail.version ?? 0,
      value: detail.value ?? 0,
      delta: detail.delta ?? 0,
      op: detail.op as HistoryBody['op'],
      created_at: detail.created_at,
      actor: detail.actor ?? '',
      previous_value: detail.previous_value,
    });
    const withPrevious = (entries: readonly HistoryBody[]) =>
      entries.map((entry) => ({ ...entry, previous_value: entry.value - entry.delta }));

    // Each surviving counter: its events are its history, entry for entry, in the file's order.
    for (const name of ['ev.plain', 'ev.keyed', 'ev.hot'] as const) {
      expect(changesOf(name).map(asEntry), name).toEqual(withPrevious(histories[name] ?? []));
      expect(new Set(changesOf(name).map(({ detail }) => detail.incarnation)).size).toBe(1);
    }
    // A bounded counter's events carry its bounds.
    expect(changesOf('ev.stock').map(({ detail }) => [detail.version, detail.value, detail.min])).toEqual([
      [1, 10, 0],
      [2, 6, 0],
    ]);
    expect(changesOf('ev.stock').map(({ detail }) => ({ ...asEntry({ detail }), min: detail.min }))).toEqual(
      withPrevious(histories['ev.stock'] ?? []),
    );

    // The deleted counter: its two changes, its deletion, then the new incarnation's first change,
    // which the history shows alone.
    const gone = events.filter(({ detail }) => detail.name === 'ev.gone');
    expect(gone.map(({ line, detail }) => [line.DetailType, detail.version, detail.value])).toEqual([
      ['Counter Changed', 1, 7],
      ['Counter Changed', 2, 8],
      ['Counter Deleted', undefined, undefined],
      ['Counter Changed', 1, 40],
    ]);
    const [first, second, deletion, reborn] = gone.map(({ detail }) => detail);
    expect(second?.incarnation).toBe(first?.incarnation);
    expect(deletion).toMatchObject({ incarnation: first?.incarnation, op: 'delete' });
    expect(reborn?.incarnation).not.toBe(first?.incarnation);
    expect([asEntry({ detail: reborn as Detail })]).toEqual(withPrevious(histories['ev.gone'] ?? []));
  });
});
