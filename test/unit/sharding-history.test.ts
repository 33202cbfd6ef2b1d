import {
  DynamoDBClient,
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DynamoHistoryStore } from '../../functions/counter/dynamodb-history-store.ts';
import { DynamoCounterRepository } from '../../functions/counter/dynamodb-repository.ts';
import {
  numberChanges,
  SequencerNotReadyError,
  type SequencerState,
  type ShardChange,
  toHistoryAction,
} from '../../functions/counter/history.ts';
import { decodePage, encodePage, encodeSources } from '../../functions/counter/history-page.ts';
import { recordHistory, type StreamChange } from '../../functions/counter/record-history.ts';
import type { HistoryEntry, StoredShard } from '../../functions/counter/schema.ts';
import { counterItem } from '../support/counter-items.ts';
import { InMemoryCounterRepository, InMemoryHistoryStore } from '../support/in-memory-repository.ts';

const ACTOR = 'arn:aws:iam::000000000000:user/tester';
const KEY = 'hot#inc-hot';
const T0 = '2025-01-01T00:00:00.000Z';

/** The stream image of a sharded counter's own item (shard 0). */
function rootImage(overrides: Parameters<typeof counterItem>[0] = {}) {
  return counterItem({
    name: 'hot',
    value: 10,
    version: 1,
    created_at: T0,
    updated_at: T0,
    incarnation: 'inc-hot',
    op: 'set',
    shards: 3,
    ...overrides,
  });
}

/** The stream image of shard `shard` (1..N-1) of "hot". */
function shardImage(shard: number, overrides: Partial<StoredShard> = {}): StoredShard {
  return {
    name: `hot#${shard}`,
    counter: 'hot',
    shard,
    value: 0,
    version: 0,
    updated_at: T0,
    incarnation: 'inc-hot',
    op: 'increment',
    actor: ACTOR,
    ...overrides,
  };
}

function at(second: number): string {
  return new Date(Date.parse(T0) + second * 1000).toISOString();
}

function shardChange(shard: number, shardVersion: number, delta: number, second = 0): ShardChange {
  return {
    shard,
    shardVersion,
    delta,
    op: shard === 0 && shardVersion === 1 ? 'set' : 'increment',
    created_at: at(second),
    actor: ACTOR,
  };
}

/**
 * A 3-shard counter's stream, as the consumer receives it: created at 10 (shards 1 and 2 at 0, which
 * are no change), then +2 on shard 1, +5 on shard 0, -1 on shard 2, +4 on shard 1. Its history is
 * versions 1..5 with values 10, 12, 17, 16, 20.
 */
function shardedBatch(): StreamChange[] {
  const root1 = rootImage();
  const root2 = rootImage({ value: 15, version: 2, op: 'increment', updated_at: at(2) });
  const one0 = shardImage(1);
  const one1 = shardImage(1, { value: 2, version: 1, updated_at: at(1) });
  const one2 = shardImage(1, { value: 6, version: 2, updated_at: at(4) });
  const two0 = shardImage(2);
  const two1 = shardImage(2, { value: -1, version: 1, updated_at: at(3) });
  return [
    { id: '01', newImage: root1 },
    { id: '02', newImage: one0 },
    { id: '03', newImage: two0 },
    { id: '04', oldImage: one0, newImage: one1 },
    { id: '05', oldImage: root1, newImage: root2 },
    { id: '06', oldImage: two0, newImage: two1 },
    { id: '07', oldImage: one1, newImage: one2 },
  ];
}

const EXACT_HISTORY = [
  [1, 10, 10, 'set'],
  [2, 12, 2, 'increment'],
  [3, 17, 5, 'increment'],
  [4, 16, -1, 'increment'],
  [5, 20, 4, 'increment'],
];

function historyOf(store: InMemoryHistoryStore, key = KEY) {
  return store.snapshot()[key]?.map((entry) => [entry.version, entry.value, entry.delta, entry.op]);
}

describe('toHistoryAction for a sharded counter', () => {
  it('ignores a shard’s creation at version 0: it is no change of the counter', () => {
    // Act
    const action = toHistoryAction(undefined, shardImage(2));

    // Assess
    expect(action).toEqual({ kind: 'ignore' });
  });

  it('ignores a shard’s removal: the counter’s own item’s removal purges the history', () => {
    // Act
    const action = toHistoryAction(shardImage(2, { value: 4, version: 3 }), undefined);

    // Assess
    expect(action).toEqual({ kind: 'ignore' });
  });

  it('sequences a shard’s change under the counter’s key, with its shard version and delta new - old', () => {
    // Prepare
    const before = shardImage(2, { value: 4, version: 3 });
    const after = shardImage(2, { value: 1, version: 4, updated_at: at(9), actor: 'arn:other' });

    // Act
    const action = toHistoryAction(before, after);

    // Assess
    expect(action).toEqual({
      kind: 'sequence',
      key: KEY,
      change: {
        shard: 2,
        shardVersion: 4,
        delta: -3,
        op: 'increment',
        created_at: at(9),
        actor: 'arn:other',
      },
    });
  });

  it('ignores a shard overwritten at version 0 by the creation of a new incarnation', () => {
    // Prepare
    const before = shardImage(1, { value: 8, version: 5 });
    const after = shardImage(1, { incarnation: 'inc-next' });

    // Act
    const action = toHistoryAction(before, after);

    // Assess
    expect(action).toEqual({ kind: 'ignore' });
  });

  it('sequences the sharded counter’s creation as shard 0’s version 1, its delta the value created with', () => {
    // Act
    const action = toHistoryAction(undefined, rootImage({ value: 7 }));

    // Assess
    expect(action).toEqual({
      kind: 'sequence',
      key: KEY,
      change: { shard: 0, shardVersion: 1, delta: 7, op: 'set', created_at: T0, actor: ACTOR },
    });
  });

  it('sequences a change of the counter’s own item as shard 0’s, with its own version', () => {
    // Prepare
    const before = rootImage({ value: 10, version: 4 });
    const after = rootImage({ value: 13, version: 5, op: 'increment', updated_at: at(5) });

    // Act
    const action = toHistoryAction(before, after);

    // Assess
    expect(action).toEqual({
      kind: 'sequence',
      key: KEY,
      change: { shard: 0, shardVersion: 5, delta: 3, op: 'increment', created_at: at(5), actor: ACTOR },
    });
  });

  it('purges the history of a removed sharded counter, marked as sharded', () => {
    // Act
    const action = toHistoryAction(rootImage({ version: 9 }), undefined);

    // Assess
    expect(action).toEqual({ kind: 'purge', key: KEY, sharded: true });
  });
});

describe('numberChanges', () => {
  it('numbers the changes 1..n from the creation, each value the previous one’s plus its delta', () => {
    // Act
    const numbered = numberChanges(undefined, KEY, [
      shardChange(0, 1, 10),
      shardChange(2, 1, 3, 1),
      shardChange(1, 1, -4, 2),
      shardChange(2, 2, 1, 3),
    ]);

    // Assess
    expect(numbered.duplicates).toBe(0);
    expect(numbered.entries).toEqual([
      {
        entry: { version: 1, value: 10, delta: 10, op: 'set', created_at: at(0), actor: ACTOR },
        source: { shard: 0, shardVersion: 1 },
        absorbed: { '0': 1 },
      },
      {
        entry: { version: 2, value: 13, delta: 3, op: 'increment', created_at: at(1), actor: ACTOR },
        source: { shard: 2, shardVersion: 1 },
        absorbed: { '0': 1, '2': 1 },
      },
      {
        entry: { version: 3, value: 9, delta: -4, op: 'increment', created_at: at(2), actor: ACTOR },
        source: { shard: 1, shardVersion: 1 },
        absorbed: { '0': 1, '2': 1, '1': 1 },
      },
      {
        entry: { version: 4, value: 10, delta: 1, op: 'increment', created_at: at(3), actor: ACTOR },
        source: { shard: 2, shardVersion: 2 },
        absorbed: { '0': 1, '2': 2, '1': 1 },
      },
    ]);
  });

  it('numbers after the sequencer’s state, from its value', () => {
    // Prepare
    const state: SequencerState = { lastVersion: 7, value: 40, absorbed: { '0': 3, '1': 4 } };

    // Act
    const numbered = numberChanges(state, KEY, [shardChange(1, 5, 2), shardChange(2, 1, -10)]);

    // Assess
    expect(numbered.entries.map(({ entry }) => [entry.version, entry.value, entry.delta])).toEqual([
      [8, 42, 2],
      [9, 32, -10],
    ]);
    expect(numbered.entries.at(-1)?.absorbed).toEqual({ '0': 3, '1': 5, '2': 1 });
    expect(state).toEqual({ lastVersion: 7, value: 40, absorbed: { '0': 3, '1': 4 } });
  });

  it('skips as duplicates the changes a shard has already had absorbed, and numbers the rest without a gap', () => {
    // Prepare
    const state: SequencerState = { lastVersion: 5, value: 20, absorbed: { '0': 2, '1': 2, '2': 1 } };

    // Act
    const numbered = numberChanges(state, KEY, [
      shardChange(1, 1, 2),
      shardChange(1, 2, 4),
      shardChange(2, 1, -1),
      shardChange(1, 3, 6),
      shardChange(0, 2, 5),
    ]);

    // Assess
    expect(numbered.duplicates).toBe(4);
    expect(numbered.entries.map(({ entry }) => [entry.version, entry.value, entry.delta])).toEqual([
      [6, 26, 6],
    ]);
  });

  it('throws SequencerNotReadyError for a shard’s change that comes before the counter’s creation', () => {
    // Act
    const numbering = () => numberChanges(undefined, KEY, [shardChange(1, 1, 2), shardChange(0, 1, 10)]);

    // Assess
    expect(numbering).toThrow(SequencerNotReadyError);
    expect(numbering).toThrow(
      "history of hot#inc-hot: a shard's change came before the counter's creation was recorded; retrying",
    );
  });

  it('throws SequencerNotReadyError for a later change of shard 0 before its creation', () => {
    // Act
    const numbering = () => numberChanges(undefined, KEY, [shardChange(0, 2, 5)]);

    // Assess
    expect(numbering).toThrow(SequencerNotReadyError);
  });

  it('counts every change of a purged counter as a duplicate and numbers none', () => {
    // Prepare
    const state: SequencerState = { lastVersion: 0, value: 0, absorbed: {}, purged: true };

    // Act
    const numbered = numberChanges(state, KEY, [shardChange(1, 9, 1), shardChange(0, 1, 10)]);

    // Assess
    expect(numbered).toEqual({ entries: [], duplicates: 2 });
  });
});

describe('recordHistory of a sharded counter', () => {
  it('records the shards’ changes as one history 1..n, each value the previous one plus its delta', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();

    // Act
    const outcome = await recordHistory(store, shardedBatch());

    // Assess
    expect(outcome).toEqual({ written: 5, duplicates: 0, purged: 0, recorded: expect.any(Array) });
    expect(historyOf(store)).toEqual(EXACT_HISTORY);
    expect(store.seriesPage(KEY, 'day', 10, {}).items).toEqual([
      { start: T0, delta: 20, count: 5, value: 20 },
    ]);
  });

  it('writes nothing twice when the batch is delivered again', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();
    await recordHistory(store, shardedBatch());

    // Act
    const again = await recordHistory(store, shardedBatch());

    // Assess
    expect(again).toEqual({ written: 0, duplicates: 5, purged: 0, recorded: expect.any(Array) });
    expect(historyOf(store)).toEqual(EXACT_HISTORY);
    expect(store.seriesPage(KEY, 'minute', 10, {}).items).toEqual([
      { start: T0, delta: 20, count: 5, value: 20 },
    ]);
  });

  it('lists each shard change with the counter-wide version it was given, the same when the batch is delivered again', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();
    const first = await recordHistory(store, shardedBatch());

    // Act
    const again = await recordHistory(store, shardedBatch());

    // Assess: the shards' creations (indexes 1 and 2) are no change.
    const versions = (outcome: typeof first) =>
      outcome.recorded.map((change) => [change.index, change.kind === 'changed' ? change.entry.version : 0]);
    expect(versions(first)).toEqual([
      [0, 1],
      [3, 2],
      [4, 3],
      [5, 4],
      [6, 5],
    ]);
    expect(again.recorded).toEqual(first.recorded);
  });

  it('records the exact history when a consumer died mid-batch and the batch is delivered again', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();
    store.failSequenceAfter = 2;
    const first = await recordHistory(store, shardedBatch());

    // Act
    const again = await recordHistory(store, shardedBatch());

    // Assess
    expect(first).toMatchObject({ failedId: '01', written: 0, duplicates: 0, purged: 0 });
    expect(first.error).toEqual(new Error('consumer died mid-batch'));
    expect(again).toEqual({ written: 3, duplicates: 2, purged: 0, recorded: expect.any(Array) });
    expect(historyOf(store)).toEqual(EXACT_HISTORY);
    expect(store.seriesPage(KEY, 'hour', 10, {}).items).toEqual([
      { start: T0, delta: 20, count: 5, value: 20 },
    ]);
  });

  it('continues a history across batches, and skips the part of a redelivered batch already recorded', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();
    const batch = shardedBatch();
    await recordHistory(store, batch.slice(0, 5));

    // Act
    const rest = await recordHistory(store, batch.slice(3));

    // Assess
    expect(rest).toEqual({ written: 2, duplicates: 2, purged: 0, recorded: expect.any(Array) });
    expect(historyOf(store)).toEqual(EXACT_HISTORY);
  });

  it('stops at a shard’s change that comes before the creation was recorded, and records it once the creation is', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();
    const batch = shardedBatch();
    const early = batch.slice(3, 4);

    // Act
    const refused = await recordHistory(store, early);
    await recordHistory(store, batch.slice(0, 3));
    const retried = await recordHistory(store, early);

    // Assess
    expect(refused.failedId).toBe('04');
    expect(refused.error).toBeInstanceOf(SequencerNotReadyError);
    expect(refused.written).toBe(0);
    expect(retried).toEqual({ written: 1, duplicates: 0, purged: 0, recorded: expect.any(Array) });
    expect(historyOf(store)).toEqual(EXACT_HISTORY.slice(0, 2));
  });

  it('purges a deleted sharded counter’s history and records none of its shards’ late changes', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();
    await recordHistory(store, shardedBatch());
    const last = rootImage({ value: 15, version: 2, op: 'increment', updated_at: at(2) });
    const removal: StreamChange[] = [
      { id: '08', oldImage: last, newImage: undefined },
      { id: '09', oldImage: shardImage(1, { value: 6, version: 2 }), newImage: undefined },
    ];
    // Another stream shard's late record of an increment of shard 2 made just before the deletion.
    const late: StreamChange[] = [
      {
        id: '10',
        oldImage: shardImage(2, { value: -1, version: 1 }),
        newImage: shardImage(2, { value: 2, version: 2, updated_at: at(5) }),
      },
    ];

    // Act
    const purged = await recordHistory(store, removal);
    const afterPurge = await recordHistory(store, late);

    // Assess
    expect(purged).toEqual({ written: 0, duplicates: 0, purged: 5, recorded: expect.any(Array) });
    expect(afterPurge).toEqual({ written: 0, duplicates: 1, purged: 0, recorded: expect.any(Array) });
    expect(store.snapshot()).toEqual({});
    expect(store.seriesPage(KEY, 'day', 10, {}).items).toEqual([]);
  });

  it('records a sharded counter’s history from the in-memory repository’s stream, created with shards', async () => {
    // Prepare
    const repository = new InMemoryCounterRepository();
    const input = { name: 'hot', actor: ACTOR, newIncarnation: 'inc-hot' };
    await repository.set({ ...input, now: at(0), value: 10, shards: 3 });
    await repository.increment({ ...input, now: at(1), by: 2 });
    await repository.increment({ ...input, now: at(2), by: -7 });

    // Act
    const outcome = await recordHistory(repository.historyStore, repository.takeStream());

    // Assess
    expect(outcome).toEqual({ written: 3, duplicates: 0, purged: 0, recorded: expect.any(Array) });
    expect(historyOf(repository.historyStore)).toEqual([
      [1, 10, 10, 'set'],
      [2, 12, 2, 'increment'],
      [3, 5, -7, 'increment'],
    ]);
  });
});

const ddbMock = mockClient(DynamoDBDocumentClient);
const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const TABLES = { history: 'history-table', rollups: 'rollups-table' };

function historyStore(retentionDays?: number): DynamoHistoryStore {
  return new DynamoHistoryStore(documentClient, TABLES, { retentionDays });
}

function cancelled(): TransactionCanceledException {
  return new TransactionCanceledException({
    message: 'Transaction cancelled',
    $metadata: {},
    CancellationReasons: [{ Code: 'ConditionalCheckFailed' }, { Code: 'None' }],
  });
}

function entryOf(
  version: number,
  value: number,
  delta: number,
  op: 'set' | 'increment' = 'increment',
): HistoryEntry {
  return { version, value, delta, op, created_at: T0, actor: ACTOR };
}

/** A page item as DynamoHistoryStore stores it, with its entries' sources. */
function storedPageOf(numbered: { source: { shard: number; shardVersion: number }; entry: HistoryEntry }[]) {
  const entries = numbered.map(({ entry }) => entry);
  return {
    counter: KEY,
    version: entries.at(-1)?.version,
    ...encodePage(entries),
    ...encodeSources(numbered.map(({ source }) => source)),
  };
}

function sequencerItem(state: {
  last_version?: number;
  value?: number;
  absorbed?: object;
  purged?: boolean;
}) {
  return { counter: KEY, version: 0, ...state };
}

function transactions(): NonNullable<TransactWriteCommandInput['TransactItems']>[] {
  return ddbMock.commandCalls(TransactWriteCommand).map((call) => call.args[0].input.TransactItems ?? []);
}

/** The entries of the page a step's transaction puts, as readers decode them. */
function pageOf(items: NonNullable<TransactWriteCommandInput['TransactItems']>): HistoryEntry[] {
  const page = items.find((item) => item.Put !== undefined)?.Put?.Item;
  return page === undefined ? [] : decodePage(page);
}

const ROLLUP_NAMES = {
  '#delta': 'delta',
  '#count': 'count',
  '#value': 'value',
  '#last': 'last_version',
  '#first': 'first_version',
};

function rollupUpdate(
  interval: string,
  start: string,
  rollup: { delta: number; count: number; value: number; first: number; last: number },
) {
  return {
    Update: {
      TableName: 'rollups-table',
      Key: { series: `${KEY}#${interval}`, start },
      UpdateExpression:
        'ADD #delta :delta, #count :count SET #value = :value, #last = :last, #first = if_not_exists(#first, :first)',
      ExpressionAttributeNames: ROLLUP_NAMES,
      ExpressionAttributeValues: {
        ':delta': rollup.delta,
        ':count': rollup.count,
        ':value': rollup.value,
        ':last': rollup.last,
        ':first': rollup.first,
      },
    },
  };
}

/** Shard 0's creation (+1), then `count - 1` increments of shard 1 by 1, all in the first minute. */
function manyChanges(count: number): ShardChange[] {
  return [
    shardChange(0, 1, 1),
    ...Array.from({ length: count - 1 }, (_, i) => shardChange(1, i + 1, 1, (i % 50) + 1)),
  ];
}

describe('DynamoHistoryStore.sequence', () => {
  beforeEach(() => {
    ddbMock.reset();
    // No pause between a lost race and the next read.
    vi.spyOn(Math, 'random').mockReturnValue(0);
  });

  afterEach(() => {
    ddbMock.reset();
    vi.restoreAllMocks();
  });

  it('reads the sequencer, then writes the entries as one page, their rollups and its first step in one transaction', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({});
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    const result = await historyStore().sequence(KEY, [shardChange(0, 1, 10), shardChange(1, 1, 2, 61)]);

    // Assess
    expect(result).toEqual({
      written: 2,
      duplicates: 0,
      entries: [
        { version: 1, value: 10, delta: 10, op: 'set', created_at: T0, actor: ACTOR },
        { version: 2, value: 12, delta: 2, op: 'increment', created_at: at(61), actor: ACTOR },
      ],
    });
    expect(ddbMock.commandCalls(GetCommand).map((call) => call.args[0].input)).toEqual([
      { TableName: 'history-table', Key: { counter: KEY, version: 0 }, ConsistentRead: true },
    ]);
    expect(transactions()).toEqual([
      [
        {
          Update: {
            TableName: 'history-table',
            Key: { counter: KEY, version: 0 },
            UpdateExpression: 'SET #last = :to, #value = :value, #absorbed = :absorbed',
            ConditionExpression: 'attribute_not_exists(#last)',
            ExpressionAttributeNames: { '#last': 'last_version', '#value': 'value', '#absorbed': 'absorbed' },
            ExpressionAttributeValues: { ':to': 2, ':value': 12, ':absorbed': { '0': 1, '1': 1 } },
          },
        },
        {
          Put: {
            TableName: 'history-table',
            // The page is stored under its last version, compactly (history-page.ts): versions from the
            // first, values from the one before, the actor once, times in ms after the first's.
            Item: {
              counter: KEY,
              version: 2,
              first_version: 1,
              value_before: 0,
              time: T0,
              actors: [ACTOR],
              changes: [
                [10, 0, 0, 'set'],
                [2, 61_000, 0],
              ],
              // Which shard change each entry was (history-page.ts encodeSources).
              shards: '01',
              shard_first: { '0': 1, '1': 1 },
            },
          },
        },
        rollupUpdate('minute', T0, { delta: 10, count: 1, value: 10, first: 1, last: 1 }),
        rollupUpdate('hour', T0, { delta: 12, count: 2, value: 12, first: 1, last: 2 }),
        rollupUpdate('day', T0, { delta: 12, count: 2, value: 12, first: 1, last: 2 }),
        rollupUpdate('minute', '2025-01-01T00:01:00.000Z', {
          delta: 2,
          count: 1,
          value: 12,
          first: 2,
          last: 2,
        }),
      ],
    ]);
  });

  it('conditions a later step on the sequencer’s last version and on no purge, numbering after it', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({
      Item: sequencerItem({ last_version: 5, value: 20, absorbed: { '0': 2, '1': 2, '2': 1 } }),
    });
    ddbMock.on(TransactWriteCommand).resolves({});
    ddbMock.on(QueryCommand).resolves({ Items: [] });

    // Act
    const result = await historyStore().sequence(KEY, [shardChange(1, 2, 4), shardChange(2, 2, 3)]);

    // Assess
    expect(result).toEqual({
      written: 1,
      duplicates: 1,
      entries: [
        undefined,
        { version: 6, value: 23, delta: 3, op: 'increment', created_at: T0, actor: ACTOR },
      ],
    });
    const [items] = transactions();
    expect(items?.[0]).toEqual({
      Update: {
        TableName: 'history-table',
        Key: { counter: KEY, version: 0 },
        UpdateExpression: 'SET #last = :to, #value = :value, #absorbed = :absorbed',
        ConditionExpression: '#last = :from AND attribute_not_exists(#purged)',
        ExpressionAttributeNames: {
          '#last': 'last_version',
          '#value': 'value',
          '#absorbed': 'absorbed',
          '#purged': 'purged',
        },
        ExpressionAttributeValues: {
          ':to': 6,
          ':value': 23,
          ':absorbed': { '0': 2, '1': 2, '2': 2 },
          ':from': 5,
        },
      },
    });
    expect(items?.[1]).toEqual({
      Put: {
        TableName: 'history-table',
        Item: {
          counter: KEY,
          version: 6,
          first_version: 6,
          value_before: 20,
          time: T0,
          actors: [ACTOR],
          changes: [[3, 0, 0]],
          shards: '2',
          shard_first: { '2': 2 },
        },
      },
    });
    expect(items).toHaveLength(5);
  });

  it('writes nothing when every change is already absorbed', async () => {
    // Prepare
    ddbMock
      .on(GetCommand)
      .resolves({ Item: sequencerItem({ last_version: 3, value: 9, absorbed: { '0': 1, '1': 2 } }) });
    ddbMock.on(QueryCommand).resolves({ Items: [] });

    // Act
    const result = await historyStore().sequence(KEY, [shardChange(1, 1, 4), shardChange(1, 2, 4)]);

    // Assess
    expect(result).toEqual({ written: 0, duplicates: 2, entries: [undefined, undefined] });
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it('answers the entries the changes of a batch delivered again were given, read from the newest pages', async () => {
    // Prepare: history 1..5 in two pages (1-3, 4-5); shard 1's v1 and v2 came as versions 2 and 4.
    const history = [
      { source: { shard: 0, shardVersion: 1 }, entry: entryOf(1, 10, 10, 'set') },
      { source: { shard: 1, shardVersion: 1 }, entry: entryOf(2, 12, 2) },
      { source: { shard: 2, shardVersion: 1 }, entry: entryOf(3, 15, 3) },
      { source: { shard: 1, shardVersion: 2 }, entry: entryOf(4, 19, 4) },
      { source: { shard: 2, shardVersion: 2 }, entry: entryOf(5, 20, 1) },
    ];
    ddbMock.on(GetCommand).resolves({
      Item: sequencerItem({ last_version: 5, value: 20, absorbed: { '0': 1, '1': 2, '2': 2 } }),
    });
    ddbMock.on(TransactWriteCommand).resolves({});
    ddbMock
      .on(QueryCommand)
      .resolves({ Items: [storedPageOf(history.slice(3)), storedPageOf(history.slice(0, 3))] });

    // Act: shard 1's v1 and v2 again, and its new v3.
    const result = await historyStore().sequence(KEY, [
      shardChange(1, 1, 2),
      shardChange(1, 2, 4),
      shardChange(1, 3, 5),
    ]);

    // Assess
    expect(result).toEqual({
      written: 1,
      duplicates: 2,
      entries: [entryOf(2, 12, 2), entryOf(4, 19, 4), entryOf(6, 25, 5)],
    });
    expect(ddbMock.commandCalls(QueryCommand).map((call) => call.args[0].input)).toEqual([
      {
        TableName: 'history-table',
        KeyConditionExpression: '#counter = :key AND #version > :sequencer',
        ExpressionAttributeNames: { '#counter': 'counter', '#version': 'version' },
        ExpressionAttributeValues: { ':key': KEY, ':sequencer': 0 },
        ScanIndexForward: false,
        ConsistentRead: true,
        Limit: 10,
      },
    ]);
  });

  it('stops reading older pages once a page starts at or before a sought change of its shard', async () => {
    // Prepare: shard 1's v4 is in no page (written before entries kept their sources, say): the
    // page of its v2 and v3 starts before it, so no older page can hold it.
    ddbMock
      .on(GetCommand)
      .resolves({ Item: sequencerItem({ last_version: 9, value: 9, absorbed: { '0': 1, '1': 6 } }) });
    ddbMock.on(QueryCommand).resolves({
      Items: [
        storedPageOf([
          { source: { shard: 1, shardVersion: 5 }, entry: entryOf(8, 8, 1) },
          { source: { shard: 1, shardVersion: 6 }, entry: entryOf(9, 9, 1) },
        ]),
        storedPageOf([
          { source: { shard: 1, shardVersion: 2 }, entry: entryOf(6, 6, 1) },
          { source: { shard: 1, shardVersion: 3 }, entry: entryOf(7, 7, 1) },
        ]),
      ],
      LastEvaluatedKey: { counter: KEY, version: 6 },
    });

    // Act
    const result = await historyStore().sequence(KEY, [shardChange(1, 4, 1), shardChange(1, 6, 1)]);

    // Assess
    expect(result).toEqual({ written: 0, duplicates: 2, entries: [undefined, entryOf(9, 9, 1)] });
    expect(ddbMock.commandCalls(QueryCommand)).toHaveLength(1);
  });

  it('writes nothing for a purged counter: its tombstone makes every change a duplicate', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: sequencerItem({ purged: true }) });

    // Act
    const result = await historyStore().sequence(KEY, [shardChange(2, 7, 1)]);

    // Assess: and no history is read for the entries it had, which its deletion removed.
    expect(result).toEqual({ written: 0, duplicates: 1, entries: [undefined] });
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
    expect(ddbMock.commandCalls(QueryCommand)).toHaveLength(0);
  });

  it('throws SequencerNotReadyError for a shard’s change before the creation, writing nothing', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({});

    // Act
    const sequencing = historyStore().sequence(KEY, [shardChange(1, 1, 2)]);

    // Assess
    await expect(sequencing).rejects.toBeInstanceOf(SequencerNotReadyError);
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it('writes a page of at most 100 entries per transaction, each step conditioned on the one before', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({});
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    const result = await historyStore().sequence(KEY, manyChanges(250));

    // Assess
    expect(result).toEqual({ written: 250, duplicates: 0, entries: expect.any(Array) });
    expect(result.entries.map((entry) => entry?.version)).toEqual(
      Array.from({ length: 250 }, (_, i) => 1 + i),
    );
    expect(ddbMock.commandCalls(GetCommand)).toHaveLength(1);
    const steps = transactions();
    expect(steps.map((items) => items.filter((item) => item.Put !== undefined).length)).toEqual([1, 1, 1]);
    expect(steps.map((items) => pageOf(items).map((entry) => entry.version))).toEqual([
      Array.from({ length: 100 }, (_, i) => 1 + i),
      Array.from({ length: 100 }, (_, i) => 101 + i),
      Array.from({ length: 50 }, (_, i) => 201 + i),
    ]);
    expect(steps.map((items) => [items[1]?.Put?.Item?.first_version, items[1]?.Put?.Item?.version])).toEqual([
      [1, 100],
      [101, 200],
      [201, 250],
    ]);
    expect(steps.map((items) => items[0]?.Update?.ConditionExpression)).toEqual([
      'attribute_not_exists(#last)',
      '#last = :from AND attribute_not_exists(#purged)',
      '#last = :from AND attribute_not_exists(#purged)',
    ]);
    expect(
      steps.map((items) => [
        items[0]?.Update?.ExpressionAttributeValues?.[':from'],
        items[0]?.Update?.ExpressionAttributeValues?.[':to'],
        items[0]?.Update?.ExpressionAttributeValues?.[':value'],
      ]),
    ).toEqual([
      [undefined, 100, 100],
      [100, 200, 200],
      [200, 250, 250],
    ]);
    expect(steps[1]?.find((item) => item.Update?.Key?.series === `${KEY}#hour`)).toEqual(
      rollupUpdate('hour', T0, { delta: 100, count: 100, value: 200, first: 101, last: 200 }),
    );
  });

  it('cuts a step where its rollups would not fit the transaction: 98 of them, beside the step and the page', async () => {
    // Prepare: 40 changes a minute apart, each its own minute; hours and days shared.
    ddbMock.on(GetCommand).resolves({});
    ddbMock.on(TransactWriteCommand).resolves({});
    const changes = manyChanges(40).map((change, i) => ({ ...change, created_at: at(60 * i) }));

    // Act
    const result = await historyStore().sequence(KEY, changes);

    // Assess
    expect(result).toEqual({ written: 40, duplicates: 0, entries: expect.any(Array) });
    const steps = transactions();
    for (const items of steps) expect(items.length).toBeLessThanOrEqual(100);
    expect(steps.flatMap((items) => pageOf(items).map((entry) => entry.version))).toEqual(
      Array.from({ length: 40 }, (_, i) => 1 + i),
    );
    // 40 minutes, 1 hour, 1 day: 42 updates in one transaction of 44 items.
    expect(steps).toHaveLength(1);
    expect(steps[0]).toHaveLength(44);

    // Act: 120 changes a minute apart need 120 minute updates: more than one step takes.
    ddbMock.reset();
    ddbMock.on(GetCommand).resolves({});
    ddbMock.on(TransactWriteCommand).resolves({});
    await historyStore().sequence(
      KEY,
      manyChanges(120).map((change, i) => ({ ...change, created_at: at(60 * i) })),
    );

    // Assess: every step within 100 items, every version once and in order.
    const more = transactions();
    expect(more.length).toBeGreaterThan(1);
    for (const items of more) expect(items.length).toBeLessThanOrEqual(100);
    expect(more.flatMap((items) => pageOf(items).map((entry) => entry.version))).toEqual(
      Array.from({ length: 120 }, (_, i) => 1 + i),
    );
  });

  it('reads the sequencer again after losing a race to another shard’s batch, and numbers after the winner', async () => {
    // Prepare
    ddbMock
      .on(GetCommand)
      .resolvesOnce({
        Item: sequencerItem({ last_version: 5, value: 20, absorbed: { '0': 2, '1': 2, '2': 1 } }),
      })
      .resolves({
        Item: sequencerItem({ last_version: 7, value: 22, absorbed: { '0': 2, '1': 2, '2': 3 } }),
      });
    ddbMock.on(TransactWriteCommand).rejectsOnce(cancelled()).resolves({});

    // Act
    const result = await historyStore().sequence(KEY, [shardChange(1, 3, 4), shardChange(1, 4, 1)]);

    // Assess
    expect(result).toEqual({
      written: 2,
      duplicates: 0,
      entries: [
        { version: 8, value: 26, delta: 4, op: 'increment', created_at: T0, actor: ACTOR },
        { version: 9, value: 27, delta: 1, op: 'increment', created_at: T0, actor: ACTOR },
      ],
    });
    expect(ddbMock.commandCalls(GetCommand)).toHaveLength(2);
    const [lost, won] = transactions();
    expect(lost?.[0]?.Update?.ExpressionAttributeValues).toEqual({
      ':to': 7,
      ':value': 25,
      ':absorbed': { '0': 2, '1': 4, '2': 1 },
      ':from': 5,
    });
    expect(won?.[0]?.Update?.ExpressionAttributeValues).toEqual({
      ':to': 9,
      ':value': 27,
      ':absorbed': { '0': 2, '1': 4, '2': 3 },
      ':from': 7,
    });
    expect(won?.filter((item) => item.Put !== undefined).map((item) => item.Put?.Item?.version)).toEqual([9]);
    expect(pageOf(won ?? [])).toEqual([
      { version: 8, value: 26, delta: 4, op: 'increment', created_at: T0, actor: ACTOR },
      { version: 9, value: 27, delta: 1, op: 'increment', created_at: T0, actor: ACTOR },
    ]);
  });

  it('numbers only the rest after a race lost in a later step, its committed steps skipped as absorbed', async () => {
    // Prepare: the first 100 commit; another shard's batch then takes versions 101 and 102.
    ddbMock
      .on(GetCommand)
      .resolvesOnce({})
      .resolves({
        Item: sequencerItem({ last_version: 102, value: 102, absorbed: { '0': 1, '1': 99, '2': 2 } }),
      });
    ddbMock.on(TransactWriteCommand).resolvesOnce({}).rejectsOnce(cancelled()).resolves({});

    // Act
    const result = await historyStore().sequence(KEY, manyChanges(106));

    // Assess
    expect(result.written).toBe(106);
    const steps = transactions();
    expect(steps).toHaveLength(3);
    expect(steps[2]?.[0]?.Update?.ExpressionAttributeValues).toMatchObject({
      ':from': 102,
      ':to': 108,
      ':value': 108,
    });
    expect(pageOf(steps[2] ?? []).map((entry) => entry.version)).toEqual([103, 104, 105, 106, 107, 108]);
  });

  it('reports the changes it wrote before a race lost in a later step as written, not also as duplicates', async () => {
    // Prepare: the first 100 commit; another shard's batch then takes versions 101 and 102.
    ddbMock
      .on(GetCommand)
      .resolvesOnce({})
      .resolves({
        Item: sequencerItem({ last_version: 102, value: 102, absorbed: { '0': 1, '1': 99, '2': 2 } }),
      });
    ddbMock.on(TransactWriteCommand).resolvesOnce({}).rejectsOnce(cancelled()).resolves({});

    // Act
    const result = await historyStore().sequence(KEY, manyChanges(106));

    // Assess: 106 changes, each written once by this call, none of them delivered before; each with
    // the version it was given, around the two the other batch took.
    expect(result).toEqual({ written: 106, duplicates: 0, entries: expect.any(Array) });
    expect(result.entries.map((entry) => entry?.version)).toEqual([
      ...Array.from({ length: 100 }, (_, i) => 1 + i),
      ...Array.from({ length: 6 }, (_, i) => 103 + i),
    ]);
  });

  it('passes on a failure that is no lost race, without trying again', async () => {
    // Prepare
    const throttled = new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} });
    ddbMock.on(GetCommand).resolves({});
    ddbMock.on(TransactWriteCommand).rejects(throttled);

    // Act
    const sequencing = historyStore().sequence(KEY, [shardChange(0, 1, 10)]);

    // Assess
    await expect(sequencing).rejects.toBe(throttled);
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(1);
  });

  it('fails at once when the transaction was cancelled by throttling, which is no race to retry at once', async () => {
    // Prepare: DynamoDB cancels a transaction with a ThrottlingError reason when one of its items is over its rate.
    const throttled = new TransactionCanceledException({
      message: 'Transaction cancelled',
      $metadata: {},
      CancellationReasons: [{ Code: 'ThrottlingError' }, { Code: 'None' }],
    });
    ddbMock.on(GetCommand).resolves({});
    ddbMock.on(TransactWriteCommand).rejects(throttled);

    // Act
    const sequencing = historyStore().sequence(KEY, [shardChange(0, 1, 10)]);

    // Assess
    await expect(sequencing).rejects.toBe(throttled);
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(1);
  });

  it('gives each page the expiry of its last entry when a retention is configured, so none leaves early', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({});
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    await historyStore(2).sequence(KEY, [shardChange(0, 1, 10), shardChange(1, 1, 2, 30)]);

    // Assess
    const page = transactions()[0]?.[1]?.Put?.Item;
    expect(page?.expires_at).toBe(Date.parse(at(30)) / 1000 + 2 * 86_400);
    expect(page?.changes).toHaveLength(2);
  });
});

describe('DynamoHistoryStore.purge of a sharded counter', () => {
  const NOW_MS = Date.parse('2025-03-01T12:00:00.000Z');

  beforeEach(() => {
    ddbMock.reset();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW_MS);
  });

  afterEach(() => {
    ddbMock.reset();
    vi.useRealTimers();
  });

  function serveHistory(versions: number[]): void {
    ddbMock
      .on(QueryCommand, { TableName: 'history-table' })
      .resolves({ Items: versions.map((version) => ({ counter: KEY, version })) });
    ddbMock.on(QueryCommand, { TableName: 'rollups-table' }).resolves({ Items: [] });
    ddbMock.on(BatchWriteCommand).resolves({});
    ddbMock.on(PutCommand).resolves({});
  }

  it('deletes the history, then leaves a tombstone at version 0 that outlives the stream’s 24 hours', async () => {
    // Prepare
    serveHistory([0, 1, 2]);

    // Act
    await historyStore().purge(KEY, { sharded: true });

    // Assess
    const deleted = ddbMock
      .commandCalls(BatchWriteCommand)
      .flatMap((call) => call.args[0].input.RequestItems?.['history-table'] ?? [])
      .map((request) => request.DeleteRequest?.Key);
    expect(deleted).toEqual([
      { counter: KEY, version: 0 },
      { counter: KEY, version: 1 },
      { counter: KEY, version: 2 },
    ]);
    expect(ddbMock.commandCalls(PutCommand).map((call) => call.args[0].input)).toEqual([
      {
        TableName: 'history-table',
        Item: { counter: KEY, version: 0, purged: true, expires_at: NOW_MS / 1000 + 2 * 86_400 },
      },
    ]);
    const order = ddbMock.calls().map((call) => call.args[0].constructor.name);
    expect(order.lastIndexOf('BatchWriteCommand')).toBeLessThan(order.indexOf('PutCommand'));
    expect(order.at(-1)).toBe('PutCommand');
  });

  it('counts the entries it removed, not the sequencer (version 0), as the in-memory store does', async () => {
    // Prepare
    serveHistory([0, 1, 2]);

    // Act
    const removed = await historyStore().purge(KEY, { sharded: true });

    // Assess
    expect(removed).toBe(2);
  });

  it('counts every entry of a page it removed, and deletes each page by its key alone', async () => {
    // Prepare: the sequencer, a page of versions 1..40 and one of 41..41.
    ddbMock.on(QueryCommand, { TableName: 'history-table' }).resolves({
      Items: [
        { counter: KEY, version: 0 },
        { counter: KEY, version: 40, first_version: 1 },
        { counter: KEY, version: 41, first_version: 41 },
      ],
    });
    ddbMock.on(QueryCommand, { TableName: 'rollups-table' }).resolves({ Items: [] });
    ddbMock.on(BatchWriteCommand).resolves({});
    ddbMock.on(PutCommand).resolves({});

    // Act
    const removed = await historyStore().purge(KEY, { sharded: true });

    // Assess
    expect(removed).toBe(41);
    const deleted = ddbMock
      .commandCalls(BatchWriteCommand)
      .flatMap((call) => call.args[0].input.RequestItems?.['history-table'] ?? [])
      .map((request) => request.DeleteRequest?.Key);
    expect(deleted).toEqual([
      { counter: KEY, version: 0 },
      { counter: KEY, version: 40 },
      { counter: KEY, version: 41 },
    ]);
  });

  it('leaves no tombstone for a plain counter', async () => {
    // Prepare
    serveHistory([1, 2]);

    // Act
    const removed = await historyStore().purge(KEY);

    // Assess
    expect(removed).toBe(2);
    expect(ddbMock.commandCalls(PutCommand)).toHaveLength(0);
  });
});

describe('a time window of a sharded counter’s history', () => {
  beforeEach(() => {
    ddbMock.reset();
  });

  afterEach(() => {
    ddbMock.reset();
  });

  it('holds a change of the window that was numbered before a change of an earlier minute', async () => {
    // Prepare: shard 1's batch, a change at 12:05:00, is numbered (v10) before shard 2's batch, a change
    // at 12:04:59 that its stream shard delivered later (v11).
    const state9 = sequencerItem({ last_version: 9, value: 9, absorbed: { '0': 1, '1': 4, '2': 4 } });
    const state10 = sequencerItem({ last_version: 10, value: 10, absorbed: { '0': 1, '1': 5, '2': 4 } });
    ddbMock.on(GetCommand).resolvesOnce({ Item: state9 }).resolves({ Item: state10 });
    ddbMock.on(TransactWriteCommand).resolves({});
    const late = { ...shardChange(2, 5, 1), created_at: '2025-01-01T12:04:59.000Z' };
    const early = { ...shardChange(1, 5, 1), created_at: '2025-01-01T12:05:00.000Z' };
    await historyStore().sequence(KEY, [early]);
    await historyStore().sequence(KEY, [late]);
    // The minute rollups as those two transactions left them: the consumer's index on time.
    const minutes = transactions()
      .flat()
      .flatMap((item) => (item.Update?.Key?.series === `${KEY}#minute` ? [item.Update] : []))
      .map((update) => ({
        start: String(update.Key?.start),
        first_version: update.ExpressionAttributeValues?.[':first'],
        last_version: update.ExpressionAttributeValues?.[':last'],
      }))
      .sort((a, b) => a.start.localeCompare(b.start));
    ddbMock.reset();
    ddbMock.on(QueryCommand, { TableName: 'rollups-table' }).callsFake(async (input) => {
      const start = String(input.ExpressionAttributeValues?.[':start']);
      // As DynamoDB answers the lookup: minutes from `start` on, oldest first, at most Limit of them.
      return { Items: minutes.filter((minute) => minute.start >= start).slice(0, input.Limit ?? 1) };
    });
    ddbMock.on(QueryCommand, { TableName: 'history-table' }).resolves({ Items: [] });
    const repository = new DynamoCounterRepository(documentClient, { counters: 'counters-table', ...TABLES });

    // Act
    await repository.history({
      name: 'hot',
      incarnation: 'inc-hot',
      limit: 100,
      since: '2025-01-01T12:04:00.000Z',
      paged: true,
    });

    // Assess: v10 (12:05:00) is inside the window, so the version window must start at or before it.
    expect(minutes.map((minute) => [minute.start, minute.first_version])).toEqual([
      ['2025-01-01T12:04:00.000Z', 11],
      ['2025-01-01T12:05:00.000Z', 10],
    ]);
    const query = ddbMock
      .commandCalls(QueryCommand)
      .find((call) => call.args[0].input.TableName === 'history-table')?.args[0].input;
    expect(query?.ExpressionAttributeValues?.[':from']).toBeLessThanOrEqual(10);
  });
});
