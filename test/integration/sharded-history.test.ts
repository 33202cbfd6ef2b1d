import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoHistoryStore } from '../../functions/counter/dynamodb-history-store.ts';
import type { ShardChange } from '../../functions/counter/history.ts';
import { decodePage } from '../../functions/counter/history-page.ts';
import { HISTORY_TABLE, ROLLUPS_TABLE } from '../../functions/counter/table.ts';
import { ensureTable } from '../../lib/local/tables.ts';
import { useEngine } from '../support/local-engine.ts';

/**
 * The sharded counter's sequencer against the real engine's transactions and conditions: on AWS the
 * shards' items may sit in different stream shards, so batches of one counter can be numbered by two
 * consumer invocations at once. Locally the poller never does that; this test does it on purpose.
 */
describe('numbering a sharded counter history (DynamoHistoryStore.sequence)', () => {
  const local = useEngine();
  let store: DynamoHistoryStore;
  const tables = { history: 'seq-history', rollups: 'seq-rollups' };

  beforeAll(async () => {
    await ensureTable(local.raw, tables.history, HISTORY_TABLE);
    await ensureTable(local.raw, tables.rollups, ROLLUPS_TABLE);
    store = new DynamoHistoryStore(local.documents, tables);
  });

  const changesOf = (shard: number, from: number, to: number, delta: number): ShardChange[] =>
    Array.from({ length: to - from + 1 }, (_, i) => ({
      shard,
      shardVersion: from + i,
      delta,
      op: shard === 0 && from + i === 1 ? 'set' : 'increment',
      created_at: new Date(Date.UTC(2026, 10, 30, 12, 0, i)).toISOString(),
      actor: `arn:aws:iam::000000000000:user/shard-${shard}`,
    }));

  const entriesOf = async (key: string) => {
    const { Items = [] } = await local.documents.send(
      new QueryCommand({
        TableName: tables.history,
        KeyConditionExpression: '#counter = :key AND #version >= :one',
        ExpressionAttributeNames: { '#counter': 'counter', '#version': 'version' },
        ExpressionAttributeValues: { ':key': key, ':one': 1 },
        ConsistentRead: true,
      }),
    );
    // Pages of entries, as the consumer stores a sharded counter's history (history-page.ts).
    return Items.flatMap((item) => decodePage(item));
  };

  const itemsOf = async (key: string) => {
    const { Count = 0 } = await local.documents.send(
      new QueryCommand({
        TableName: tables.history,
        KeyConditionExpression: '#counter = :key AND #version >= :one',
        ExpressionAttributeNames: { '#counter': 'counter', '#version': 'version' },
        ExpressionAttributeValues: { ':key': key, ':one': 1 },
        ConsistentRead: true,
        Select: 'COUNT',
      }),
    );
    return Count;
  };

  it('numbers three shards racing each other 1..n exactly once, with their rollups, and again delivered changes nothing', async () => {
    const key = 'race#inc-1';
    // The creation comes first, as it must (the counter's own item, version 1).
    await store.sequence(key, changesOf(0, 1, 1, 10));
    const batches = [changesOf(0, 2, 40, 1), changesOf(1, 1, 40, 2), changesOf(2, 1, 40, 3)];

    const results = await Promise.all(batches.map((batch) => store.sequence(key, batch)));
    const again = await Promise.all(batches.map((batch) => store.sequence(key, batch)));

    expect(results.reduce((sum, result) => sum + result.written, 0)).toBe(119);
    expect(again.every((result) => result.written === 0)).toBe(true);
    expect(again.reduce((sum, result) => sum + result.duplicates, 0)).toBe(119);
    // Delivered again, each change is answered with the entry it was given (its change event's version).
    expect(again.map((result) => result.entries)).toEqual(results.map((result) => result.entries));
    expect(
      results
        .flatMap((result) => result.entries.map((entry) => entry?.version))
        .sort((a, b) => (a ?? 0) - (b ?? 0)),
    ).toEqual(Array.from({ length: 119 }, (_, i) => i + 2));
    const entries = await entriesOf(key);
    expect(entries.map((entry) => entry.version)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    entries.forEach((entry, i) => {
      expect(entry.value).toBe((entries[i - 1]?.value ?? 0) + entry.delta);
    });
    expect(entries.at(-1)?.value).toBe(10 + 39 + 80 + 120);
    // One page per committed step: the creation's, and each batch's (a lost race commits nothing).
    expect(await itemsOf(key)).toBe(4);
    const { Item: day } = await local.documents.send(
      new GetCommand({
        TableName: tables.rollups,
        Key: { series: `${key}#day`, start: '2026-11-30T00:00:00.000Z' },
        ConsistentRead: true,
      }),
    );
    expect(day).toMatchObject({ count: 120, delta: 249, value: 249 });
  });

  it('waits for the creation before numbering a shard, and records nothing of a purged counter', async () => {
    const key = 'late#inc-1';

    await expect(store.sequence(key, changesOf(3, 1, 2, 1))).rejects.toMatchObject({
      name: 'SequencerNotReadyError',
    });
    await store.sequence(key, changesOf(0, 1, 1, 0));
    await store.sequence(key, changesOf(3, 1, 2, 1));
    await store.purge(key, { sharded: true });
    const late = await store.sequence(key, changesOf(3, 3, 5, 1));

    expect(late).toEqual({ written: 0, duplicates: 3, entries: [undefined, undefined, undefined] });
    expect(await entriesOf(key)).toEqual([]);
  });
});
