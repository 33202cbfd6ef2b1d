import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import {
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COUNTERS_TABLE } from '../../functions/counter/table.ts';
import type { StreamStorage } from '../../lib/local/stream-storage.ts';
import { ensureTable } from '../../lib/local/tables.ts';
import { useEngine } from '../support/local-engine.ts';

const DAY_SECONDS = 24 * 60 * 60;

// lib/local/stream-storage.ts: the local engine's stream indexed, so a long-lived store stays as fast
// as a fresh one, and trimmed to what AWS keeps without losing a record the consumer has not handled.
describe("the local engine's stream storage", () => {
  let storage: StreamStorage;
  /** The engine's file, opened beside it as the server does, to inspect and to age records. */
  let file: DatabaseSync;
  let tables = 0;

  let dir: string;
  const path = () => join(dir, 'engine.db');

  // Registered before useEngine, so it runs only after the engine stopped (after hooks run in reverse).
  afterAll(() => {
    file?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const local = useEngine({
    dbPath: () => {
      dir = mkdtempSync(join(tmpdir(), 'stream-storage-'));
      return path();
    },
  });

  beforeAll(() => {
    if (local.engine.streamStorage === undefined)
      throw new Error('the engine started without stream storage');
    storage = local.engine.streamStorage;
    file = new DatabaseSync(path());
  });

  /** A fresh counters table with `changes` increments of one counter; its stream's shard. */
  const tableWithChanges = async (changes: number) => {
    const table = `storage-counters-${++tables}`;
    const { streamArn = '' } = await ensureTable(local.raw, table, COUNTERS_TABLE);
    for (let i = 0; i < changes; i++) await increment(table);
    const { StreamDescription } = await local.streams.send(
      new DescribeStreamCommand({ StreamArn: streamArn }),
    );
    const shardId = StreamDescription?.Shards?.[0]?.ShardId ?? '';
    return { table, streamArn, shardId };
  };

  const increment = (table: string) =>
    local.documents.send(
      new UpdateCommand({
        TableName: table,
        Key: { name: 'c' },
        UpdateExpression: 'ADD #value :one',
        ExpressionAttributeNames: { '#value': 'value' },
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );

  const sequencesOf = (table: string): number[] =>
    file
      .prepare('SELECT sequence_number FROM _stream_records WHERE table_name = ? ORDER BY id')
      .all(table)
      .map((row) => Number(row.sequence_number));

  /** Dates the records of `table` whose sequence is at most `through` back by `seconds`. */
  const age = (table: string, through: number, seconds: number) => {
    file
      .prepare(
        'UPDATE _stream_records SET created_at = created_at - ? WHERE table_name = ? AND CAST(sequence_number AS INTEGER) <= ?',
      )
      .run(seconds, table, through);
  };

  it("gives the engine's own stream queries an index: each write's numbering and each GetRecords", () => {
    // The SQL Dynoxide runs, from its binary: an engine upgrade that changes it fails here first.
    const binary = readFileSync(
      join(dirname(createRequire(import.meta.url).resolve('@dynoxide/linux-x64/package.json')), 'dynoxide'),
      'latin1',
    );
    const numbering =
      'SELECT COALESCE(MAX(CAST(sequence_number AS INTEGER)), 0) + 1 FROM _stream_records WHERE table_name = ?1';
    const reading = /SELECT event_name, keys_json[^;]*?FROM _stream_records\s+WHERE[^;]*?LIMIT \?4/.exec(
      binary,
    )?.[0];
    expect(binary).toContain(numbering);
    expect(reading).toBeDefined();

    const plan = (sql: string, ...parameters: (string | number)[]) =>
      file
        .prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .all(...parameters)
        .map((row) => String(row.detail))
        .join('; ');
    expect(plan(numbering, 't')).toMatch(/USING COVERING INDEX counter_service_stream_by_table/);
    expect(plan(reading ?? '', 't', 's', 0, 100)).toMatch(/USING INDEX counter_service_stream_by_shard/);
  });

  it('deletes handled records older than 24 hours and keeps the rest', async () => {
    const { table, shardId } = await tableWithChanges(10);
    age(table, 6, DAY_SECONDS + 60);

    // Handled through 8: 1-6 are old and handled; 7-8 handled but recent; 9-10 not handled.
    const removed = await storage.trim(table, shardId, '8');

    expect(removed).toBe(6);
    expect(sequencesOf(table)).toEqual([7, 8, 9, 10]);
  });

  it('keeps a record the consumer has not handled, however old', async () => {
    const { table, shardId } = await tableWithChanges(5);
    age(table, 5, 3 * DAY_SECONDS);

    const removed = await storage.trim(table, shardId, '2');

    expect(removed).toBe(2);
    expect(sequencesOf(table)).toEqual([3, 4, 5]);
  });

  it('keeps the newest record, so the engine numbers the next change on from it and the consumer reads on', async () => {
    const { table, streamArn, shardId } = await tableWithChanges(4);
    age(table, 4, 2 * DAY_SECONDS);

    const removed = await storage.trim(table, shardId, '4');
    await increment(table);

    expect(removed).toBe(3);
    expect(sequencesOf(table)).toEqual([4, 5]);
    const { ShardIterator } = await local.streams.send(
      new GetShardIteratorCommand({
        StreamArn: streamArn,
        ShardId: shardId,
        ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
        SequenceNumber: '4',
      }),
    );
    const { Records = [] } = await local.streams.send(new GetRecordsCommand({ ShardIterator }));
    expect(Records.map((record) => record.dynamodb?.SequenceNumber)).toEqual(['5']);
    expect(Records[0]?.dynamodb?.NewImage?.value?.N).toBe('5');
  });

  it('leaves other tables alone', async () => {
    const first = await tableWithChanges(3);
    const second = await tableWithChanges(3);
    age(first.table, 3, 2 * DAY_SECONDS);
    age(second.table, 3, 2 * DAY_SECONDS);

    await storage.trim(first.table, first.shardId, '3');

    expect(sequencesOf(first.table)).toEqual([3]);
    expect(sequencesOf(second.table)).toEqual([1, 2, 3]);
  });
});
