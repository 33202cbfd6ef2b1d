import { mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CounterClient } from '../../client/counter-client.ts';
import { exportCounters } from '../../client/export.ts';
import { EXPORT_FORMAT, type ExportLine, parseLine } from '../../client/export-format.ts';
import { importCounters } from '../../client/import.ts';
import { runInRepo } from '../support/repo-process.ts';
import { useServer } from '../support/server-process.ts';
import { ADMIN, eventually } from '../support/signed-client.ts';

/** What must survive a round trip: everything but times and actors, which an import cannot keep. */
function comparable(lines: string[]): unknown[] {
  return lines
    .map((text, index) => parseLine(text, index + 1))
    .filter((line): line is Exclude<ExportLine, { type: 'export' }> => line.type !== 'export')
    .map((line) =>
      line.type === 'counter'
        ? {
            type: line.type,
            name: line.name,
            value: line.value,
            version: line.version,
            // Absent for a plain counter, so a sharded one that comes back plain does not compare equal.
            ...(line.shards === undefined ? {} : { shards: line.shards }),
          }
        : {
            type: line.type,
            name: line.name,
            version: line.version,
            value: line.value,
            delta: line.delta,
            op: line.op,
          },
    );
}

async function* linesOf(lines: string[]): AsyncGenerator<string> {
  yield* lines;
}

async function runCli(args: string[], stdio: { stdin?: number; stdout?: number }, url: string) {
  const cli = runInRepo(process.execPath, ['--import', 'tsx', 'bin/counter-cli.ts', '--url', url, ...args], {
    stdin: stdio.stdin ?? 'ignore',
    stdout: stdio.stdout ?? 'ignore',
  });
  const code = await cli.exited;
  return { code, stderr: cli.stderr() };
}

describe('export and import', () => {
  const server = useServer();
  let client: CounterClient;

  const exportOf = async (prefix: string): Promise<string[]> => {
    const lines: string[] = [];
    const summary = await exportCounters(
      client,
      async (line) => {
        lines.push(line);
      },
      { prefix },
    );
    expect(summary.incomplete).toEqual([]);
    return lines;
  };

  /** Counters with increments (up and down) and sets, their history complete. */
  const makeCounters = async (prefix: string): Promise<void> => {
    await client.increment(`${prefix}a`, 3);
    await client.increment(`${prefix}a`, -1);
    await client.set(`${prefix}a`, 10);
    await client.increment(`${prefix}a`, 5);
    await client.set(`${prefix}b`, -7);
    for (let i = 0; i < 5; i++) await client.increment(`${prefix}c`);
    await client.set(`${prefix}c`, 5);
  };

  /** A counter spread over 4 shards, with increments up and down, beside a plain one. */
  const makeShardedCounters = async (prefix: string): Promise<void> => {
    await client.set(`${prefix}hot`, 5, { shards: 4 });
    await client.increment(`${prefix}hot`, 2);
    await client.increment(`${prefix}hot`, -3);
    await client.increment(`${prefix}hot`);
    await client.increment(`${prefix}plain`, 4);
  };

  const deleteAll = async (prefix: string): Promise<void> => {
    const names: string[] = [];
    for await (const counter of client.list({ prefix })) names.push(counter.name);
    for (const name of names) await client.delete(name);
  };

  beforeAll(() => {
    client = new CounterClient({ url: server.url, credentials: ADMIN });
  });

  it('recreates counters with the same names, values, versions and history after they were deleted', async () => {
    await makeCounters('rt.');
    const exported = await exportOf('rt.');
    await deleteAll('rt.');

    const summary = await importCounters(client, linesOf(exported));
    const again = await exportOf('rt.');

    expect(summary).toMatchObject({ counters: 3, changes: 11, replayed: 0, failed: [] });
    expect(comparable(exported)).toHaveLength(3 + 11);
    expect(comparable(again)).toEqual(comparable(exported));
    expect(await client.get('rt.a')).toMatchObject({ value: 15, version: 4 });
  });

  it('recreates a bounded counter with its bounds at every version, as the sets that gave them', async () => {
    await client.set('bounded.stock', 10, { min: 0, max: 20 });
    await client.increment('bounded.stock', -10);
    await client.set('bounded.stock', 5, { max: null });
    await client.increment('bounded.stock', 100);
    const exported = await exportOf('bounded.');
    await deleteAll('bounded.');

    const summary = await importCounters(client, linesOf(exported));
    const again = await exportOf('bounded.');

    const bounds = (lines: string[]) =>
      lines
        .map((text, index) => parseLine(text, index + 1))
        .flatMap((line) =>
          line.type === 'export'
            ? []
            : [{ type: line.type, value: line.value, min: line.min, max: line.max }],
        );
    expect(summary).toMatchObject({ counters: 1, changes: 4, failed: [] });
    expect(bounds(exported)).toEqual([
      { type: 'counter', value: 105, min: 0, max: undefined },
      { type: 'history', value: 10, min: 0, max: 20 },
      { type: 'history', value: 0, min: 0, max: 20 },
      { type: 'history', value: 5, min: 0, max: undefined },
      { type: 'history', value: 105, min: 0, max: undefined },
    ]);
    expect(bounds(again)).toEqual(bounds(exported));
  });

  it('counts nothing twice when the same import runs again', async () => {
    await makeCounters('rerun.');
    const exported = await exportOf('rerun.');
    await deleteAll('rerun.');
    await importCounters(client, linesOf(exported));

    const second = await importCounters(client, linesOf(exported));

    expect(second).toMatchObject({ counters: 3, changes: 11, replayed: 11, failed: [] });
    expect(comparable(await exportOf('rerun.'))).toEqual(comparable(exported));
  });

  it('finishes a partial import when run again, without applying any change twice', async () => {
    await makeCounters('partial.');
    const exported = await exportOf('partial.');
    await deleteAll('partial.');
    // The first run dies half way through the first counter's history, as when the connection drops.
    const cut = exported.findIndex((line) => line.includes('"version":3,') && line.includes('"history"'));
    async function* dying(): AsyncGenerator<string> {
      yield* exported.slice(0, cut);
      throw new Error('connection lost');
    }
    await expect(importCounters(client, dying())).rejects.toThrow('connection lost');
    expect(await client.get('partial.a')).toMatchObject({ value: 2, version: 2 });

    const rerun = await importCounters(client, linesOf(exported));

    expect(rerun).toMatchObject({ changes: 11, replayed: 2, failed: [] });
    expect(comparable(await exportOf('partial.'))).toEqual(comparable(exported));
  });

  it('imports a counter only as far as the history in the file goes, and says so', async () => {
    await makeCounters('short.');
    const exported = await exportOf('short.');
    await deleteAll('short.');
    const withoutLastChangeOfA = exported.filter(
      (line) => !(line.startsWith('{"type":"history","name":"short.a"') && line.includes('"version":4,')),
    );

    const summary = await importCounters(client, linesOf(withoutLastChangeOfA));

    expect(summary.failed).toEqual([
      { name: 'short.a', reason: "the file's history stops at version 3 of 4; imported up to version 3" },
    ]);
    expect(await client.get('short.a')).toMatchObject({ value: 10, version: 3 });
    expect(await client.get('short.c')).toMatchObject({ value: 5, version: 6 });
  });

  it('leaves a counter that exists apart from the import as it was, and imports the rest', async () => {
    await makeCounters('clash.');
    const exported = await exportOf('clash.');
    await deleteAll('clash.');
    await client.set('clash.b', 99);

    const summary = await importCounters(client, linesOf(exported));

    expect(summary.failed).toEqual([
      { name: 'clash.b', reason: expect.stringMatching(/version 1 was refused/) },
    ]);
    expect(await client.get('clash.b')).toMatchObject({ value: 99, version: 1 });
    expect(await client.get('clash.a')).toMatchObject({ value: 15, version: 4 });
  });

  it('imports a counter that was in the way once it is deleted, though its refusal is on record', async () => {
    await makeCounters('clash-again.');
    const exported = await exportOf('clash-again.');
    await deleteAll('clash-again.');
    await client.set('clash-again.b', 99);
    const first = await importCounters(client, linesOf(exported));
    expect(first.failed).toEqual([
      { name: 'clash-again.b', reason: expect.stringMatching(/exists apart from this import/) },
    ]);
    await client.delete('clash-again.b');

    // The same file again: the keys of the first run answer its 412 again, which is no longer true.
    const second = await importCounters(client, linesOf(exported));
    const third = await importCounters(client, linesOf(exported));

    expect(second).toMatchObject({ failed: [], replayed: 10 });
    expect(await client.get('clash-again.b')).toMatchObject({ value: -7, version: 1 });
    expect(third).toMatchObject({ failed: [], changes: 11, replayed: 11 });
    expect(comparable(await exportOf('clash-again.'))).toEqual(comparable(exported));
  });

  it('recreates a sharded counter with the same shards, value, version and history', async () => {
    await makeShardedCounters('shard.');
    const exported = await exportOf('shard.');
    await deleteAll('shard.');

    const summary = await importCounters(client, linesOf(exported));
    const again = await exportOf('shard.');

    expect(summary).toMatchObject({ counters: 2, changes: 5, replayed: 0, failed: [] });
    expect(comparable(exported)).toContainEqual({
      type: 'counter',
      name: 'shard.hot',
      value: 5,
      version: 4,
      shards: 4,
    });
    expect(comparable(again)).toEqual(comparable(exported));
    expect(await client.get('shard.hot')).toMatchObject({ value: 5, version: 4, shards: 4 });
    expect(await client.get('shard.plain')).not.toHaveProperty('shards');
  });

  it('counts nothing twice for a sharded counter when the same import runs again', async () => {
    await makeShardedCounters('shard-rerun.');
    const exported = await exportOf('shard-rerun.');
    await deleteAll('shard-rerun.');
    await importCounters(client, linesOf(exported));

    const second = await importCounters(client, linesOf(exported));

    expect(second).toMatchObject({ counters: 2, changes: 5, replayed: 5, failed: [] });
    expect(comparable(await exportOf('shard-rerun.'))).toEqual(comparable(exported));
    expect(await client.get('shard-rerun.hot')).toMatchObject({ value: 5, version: 4, shards: 4 });
  });

  it('refuses a sharded counter whose first change in the file is not the set that created it', async () => {
    await makeShardedCounters('shard-bad.');
    const exported = await exportOf('shard-bad.');
    await deleteAll('shard-bad.');
    // Only a set can create a sharded counter: replaying this as an increment would make it plain.
    const firstAsIncrement = exported.map((line) =>
      line.startsWith('{"type":"history","name":"shard-bad.hot"') && line.includes('"version":1,')
        ? line.replace('"op":"set"', '"op":"increment"')
        : line,
    );

    const summary = await importCounters(client, linesOf(firstAsIncrement));

    expect(summary.failed).toEqual([
      {
        name: 'shard-bad.hot',
        reason:
          'it is spread over 4 shards, which only the set that creates it can give, ' +
          'but version 1 in the file is an increment; not imported',
      },
    ]);
    await expect(client.get('shard-bad.hot')).rejects.toMatchObject({ status: 404 });
    expect(await client.get('shard-bad.plain')).toMatchObject({ value: 4, version: 1 });
  });

  /** An export written before increments by 0 were refused: one counter and its changes. */
  const oldExport = (
    counter: { name: string; value: number; version: number; shards?: number },
    changes: [op: 'increment' | 'set', delta: number, value: number][],
  ): string[] => {
    const at = '2025-01-01T00:00:00.000Z';
    return [
      { type: 'export', format: EXPORT_FORMAT, exported_at: at, source: 'http://old', prefix: '' },
      { type: 'counter', ...counter, created_at: at, updated_at: at },
      ...changes.map(([op, delta, value], index) => ({
        type: 'history',
        name: counter.name,
        version: index + 1,
        value,
        delta,
        op,
        created_at: at,
        actor: 'arn:aws:iam::000000000000:user/old',
      })),
    ].map((line) => JSON.stringify(line));
  };

  it('imports an increment by 0 from old data as a set of the value it left, so every later version lines up', async () => {
    const file = oldExport({ name: 'zero.a', value: 5, version: 3 }, [
      ['increment', 3, 3],
      ['increment', 0, 3],
      ['increment', 2, 5],
    ]);

    const summary = await importCounters(client, linesOf(file));

    expect(summary).toMatchObject({ counters: 1, changes: 3, failed: [] });
    expect(await client.get('zero.a')).toMatchObject({ value: 5, version: 3 });
    expect(comparable(await exportOf('zero.'))).toEqual([
      { type: 'counter', name: 'zero.a', value: 5, version: 3 },
      { type: 'history', name: 'zero.a', version: 1, value: 3, delta: 3, op: 'increment' },
      { type: 'history', name: 'zero.a', version: 2, value: 3, delta: 0, op: 'set' },
      { type: 'history', name: 'zero.a', version: 3, value: 5, delta: 2, op: 'increment' },
    ]);
    // Run again, it is answered from the first run's records.
    expect(await importCounters(client, linesOf(file))).toMatchObject({
      changes: 3,
      replayed: 3,
      failed: [],
    });
  });

  it('imports a sharded counter only up to an increment by 0 in old data, which it cannot take, and says so', async () => {
    const file = oldExport({ name: 'zero.hot', value: 6, version: 3, shards: 4 }, [
      ['set', 5, 5],
      ['increment', 0, 5],
      ['increment', 1, 6],
    ]);

    const summary = await importCounters(client, linesOf(file));

    expect(summary.failed).toEqual([
      {
        name: 'zero.hot',
        reason:
          'version 2 in the file is an increment by 0, which the service refuses, and a counter spread over ' +
          '4 shards cannot take the set that would stand in for it; imported up to version 1',
      },
    ]);
    expect(await client.get('zero.hot')).toMatchObject({ value: 5, version: 1, shards: 4 });
  });

  it('waits for history that lags the counter, so the export is complete', async () => {
    await client.set('lag.a', 1);
    await client.increment('lag.a', 1);

    const exported = await exportOf('lag.');

    expect(comparable(exported)).toEqual([
      { type: 'counter', name: 'lag.a', value: 2, version: 2 },
      { type: 'history', name: 'lag.a', version: 1, value: 1, delta: 1, op: 'set' },
      { type: 'history', name: 'lag.a', version: 2, value: 2, delta: 1, op: 'increment' },
    ]);
  });

  it('round-trips through the CLI: counter export > file, counter import < file', async () => {
    await makeCounters('cli.');
    await eventually(async () => {
      const entries: unknown[] = [];
      for await (const entry of client.history('cli.c')) entries.push(entry);
      return entries.length === 6 ? true : undefined;
    });
    const dir = mkdtempSync(join(tmpdir(), 'counter-export-'));
    const file = join(dir, 'cli.jsonl');

    const exported = await runCli(['export', 'cli.'], { stdout: openSync(file, 'w') }, server.url);
    await deleteAll('cli.');
    const imported = await runCli(['import'], { stdin: openSync(file, 'r') }, server.url);
    const again = await exportOf('cli.');

    expect(exported).toEqual({ code: 0, stderr: 'exported 3 counters with 11 history entries\n' });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stderr).toBe(
      'imported 3 of 3 counters: 11 changes replayed (0 already applied by an earlier run)\n',
    );
    expect(comparable(again)).toEqual(comparable(readFileSync(file, 'utf8').trimEnd().split('\n')));
  });
});
