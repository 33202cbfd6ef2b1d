import {
  BatchGetCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactGetCommand,
  type TransactGetCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DynamoCounterRepository } from '../../functions/counter/dynamodb-repository.ts';
import {
  AttemptFencedError,
  CounterBusyError,
  CounterOutOfRangeError,
  ShardLayoutError,
  shardBound,
  VersionMismatchError,
} from '../../functions/counter/errors.ts';
import type { ChangeInput } from '../../functions/counter/repository.ts';
import { MAX_VALUE } from '../../functions/counter/schema.ts';
import { counterItem } from '../support/counter-items.ts';
import { useDocumentClientMock } from '../support/document-client-mock.ts';
import { cancelledWith, conditionFailed, expectEveryPlaceholderUsed } from '../support/dynamodb-answers.ts';

// functions/counter/sharded-counters.ts, through DynamoCounterRepository (the repository it stands
// behind), over a mocked document client. Plain counters: dynamodb-repository.test.ts.

const TABLES = { counters: 'counters-table', history: 'history-table', rollups: 'rollups-table' };
const { ddbMock, client } = useDocumentClientMock();

const NAME = 'hot';
const INCARNATION = 'inc-hot';
const ACTOR = 'arn:aws:iam::000000000000:user/tester';
const NOW = '2025-01-01T00:01:00.000Z';
/** What each of a 4-shard counter's items may hold either way: floor(MAX / 4). */
const BOUND4 = 2_251_799_813_685_247;
const KEYS4 = ['hot', 'hot#1', 'hot#2', 'hot#3'];

/** The counters table the mocks answer from: items by key, as DynamoDB holds them. */
let table: Map<string, Record<string, unknown>>;

function repository(): DynamoCounterRepository {
  return new DynamoCounterRepository(client, TABLES);
}

function change(overrides: Partial<ChangeInput> = {}): ChangeInput {
  return { name: NAME, actor: ACTOR, now: NOW, newIncarnation: 'inc-new', ...overrides };
}

/** Shard 0 of a counter created with 4 shards: the counter's own item. */
function rootItem(overrides: Parameters<typeof counterItem>[0] = {}) {
  return counterItem({
    name: NAME,
    value: 10,
    version: 3,
    created_at: '2025-01-01T00:00:00.000Z',
    updated_at: '2025-01-01T00:00:03.000Z',
    incarnation: INCARNATION,
    op: 'increment',
    shards: 4,
    ...overrides,
  });
}

function shardItem(
  shard: number,
  value: number,
  version: number,
  updatedAt: string,
  incarnation = INCARNATION,
) {
  return {
    name: `${NAME}#${shard}`,
    counter: NAME,
    shard,
    value,
    version,
    updated_at: updatedAt,
    incarnation,
    op: 'increment',
    actor: ACTOR,
  };
}

/**
 * A 4-shard counter "hot": 10 + 2 + 0 + 5 = 17 at versions 3 + 2 + 0 + 4 = 9, last changed at
 * 00:00:07 (shard 1), though its own item was last changed at 00:00:03.
 */
function storeShardedCounter(): void {
  table.set('hot', rootItem());
  table.set('hot#1', shardItem(1, 2, 2, '2025-01-01T00:00:07.000Z'));
  table.set('hot#2', shardItem(2, 0, 0, '2025-01-01T00:00:00.000Z'));
  table.set('hot#3', shardItem(3, 5, 4, '2025-01-01T00:00:05.000Z'));
}

/** TransactGetItems as DynamoDB answers it: one response per key, in order, empty for a missing item. */
function serveSnapshots(): void {
  ddbMock.on(TransactGetCommand).callsFake(async (input: TransactGetCommandInput) => ({
    Responses: (input.TransactItems ?? []).map((item) => {
      const found = table.get(String(item.Get?.Key?.name));
      return found === undefined ? {} : { Item: found };
    }),
  }));
}

/**
 * UpdateItem as DynamoDB answers the counters' changes: a change meant for a plain counter adds to a
 * plain or absent item (ALL_NEW) and is refused by a sharded one with the item (ALL_OLD); a shard
 * increment applies if the incarnation and the bound hold, and is refused with the item otherwise.
 */
function serveUpdates(): void {
  ddbMock.on(UpdateCommand).callsFake(async (input: UpdateCommandInput) => {
    const name = String(input.Key?.name);
    const item = table.get(name);
    const values = input.ExpressionAttributeValues ?? {};
    const by = Number(values[':by']);
    if (input.ConditionExpression?.startsWith('attribute_not_exists(#shards)')) {
      if (item?.shards !== undefined) throw conditionFailed(item);
      const created = {
        name,
        value: Number(item?.value ?? 0) + by,
        version: Number(item?.version ?? 0) + 1,
        created_at: item?.created_at ?? values[':now'],
        updated_at: values[':now'],
        incarnation: item?.incarnation ?? values[':incarnation'],
        op: 'increment',
        actor: values[':actor'],
        kind: 'counter',
      };
      table.set(name, created);
      return { Attributes: created };
    }
    if (item === undefined || item.incarnation !== values[':layout']) throw conditionFailed(item);
    const value = Number(item.value);
    const bound = values[':bound'];
    if (typeof bound === 'number' && (by > 0 ? value > bound : value < bound)) throw conditionFailed(item);
    table.set(name, {
      ...item,
      value: value + by,
      version: Number(item.version) + 1,
      updated_at: values[':now'],
      op: 'increment',
      actor: values[':actor'],
    });
    return {};
  });
}

/** TransactWriteItems of deletes, as DynamoDB applies them when their conditions hold. */
function serveDeletes(): void {
  ddbMock.on(TransactWriteCommand).callsFake(async (input: TransactWriteCommandInput) => {
    for (const item of input.TransactItems ?? []) table.delete(String(item.Delete?.Key?.name));
    return {};
  });
}

function updateInputs(): UpdateCommandInput[] {
  return ddbMock.commandCalls(UpdateCommand).map((call) => call.args[0].input);
}

function snapshotKeys(): string[][] {
  return ddbMock
    .commandCalls(TransactGetCommand)
    .map((call) =>
      (call.args[0].input.TransactItems ?? []).map((item) => `${item.Get?.TableName}/${item.Get?.Key?.name}`),
    );
}

function onlyTransactWrite() {
  const calls = ddbMock.commandCalls(TransactWriteCommand);
  expect(calls).toHaveLength(1);
  return calls[0]?.args[0].input.TransactItems ?? [];
}

/** Math.random as the repository's shard choice sees it: floor(random * shards) is the shard. */
function pickShard(index: number, shards = 4): void {
  vi.spyOn(Math, 'random').mockReturnValue((index + 0.5) / shards);
}

beforeEach(() => {
  table = new Map();
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('shardBound', () => {
  it('gives each of N shards floor(MAX / N), so N shards at the bound still sum within the range', () => {
    // Act
    const bounds = [2, 4, 32].map(shardBound);

    // Assess
    expect(bounds).toEqual([4_503_599_627_370_495, BOUND4, 281_474_976_710_655]);
    expect(bounds[1]).toBe(BOUND4);
    expect(2 * 4_503_599_627_370_495).toBeLessThanOrEqual(MAX_VALUE);
  });
});

describe('DynamoCounterRepository.increment of a sharded counter, answered without a read', () => {
  it('reads no shard when readBack is false, and answers undefined: applied, not read', async () => {
    // Prepare
    storeShardedCounter();
    serveUpdates();
    serveSnapshots();
    pickShard(1);

    // Act
    const counter = await repository().increment({ ...change(), by: 1, readBack: false });

    // Assess
    expect(counter).toBeUndefined();
    expect(updateInputs().map((input) => input.Key?.name)).toEqual(['hot', 'hot#1']);
    expect(ddbMock.commandCalls(TransactGetCommand)).toHaveLength(0);
    expect(ddbMock.commandCalls(GetCommand)).toHaveLength(0);
    expect(table.get('hot#1')).toMatchObject({ value: 3, version: 3 });
  });

  it('answers undefined, never an error, when the read after the change fails (it is applied)', async () => {
    // Prepare
    storeShardedCounter();
    serveUpdates();
    pickShard(3);
    const throttled = Object.assign(new Error('Throughput exceeds the current capacity'), {
      name: 'ProvisionedThroughputExceededException',
    });
    ddbMock.on(TransactGetCommand).rejects(throttled);

    // Act
    const counter = await repository().increment({ ...change(), by: 1 });

    // Assess
    expect(counter).toBeUndefined();
    expect(table.get('hot#3')).toMatchObject({ value: 6, version: 5 });
  });
});

describe('DynamoCounterRepository.increment of a sharded counter', () => {
  it('tries the counter’s own item first, learns the layout from the refusal, then adds to one shard under the incarnation condition and answers a snapshot', async () => {
    // Prepare
    storeShardedCounter();
    serveUpdates();
    serveSnapshots();
    pickShard(2);

    // Act
    const counter = await repository().increment({ ...change(), by: 5 });

    // Assess
    const [first, second, ...rest] = updateInputs();
    expect(rest).toEqual([]);
    expect(first?.Key).toEqual({ name: 'hot' });
    expect(first?.ConditionExpression).toBe(
      'attribute_not_exists(#shards) AND (attribute_not_exists(#value) OR #value <= :bound)' +
        ' AND (attribute_not_exists(#max) OR #room_above >= :room)',
    );
    expect(second).toEqual({
      TableName: 'counters-table',
      Key: { name: 'hot#2' },
      UpdateExpression: 'ADD #value :by, #version :one SET #updated = :now, #op = :op, #actor = :actor',
      ExpressionAttributeNames: {
        '#value': 'value',
        '#version': 'version',
        '#updated': 'updated_at',
        '#op': 'op',
        '#actor': 'actor',
        '#incarnation': 'incarnation',
      },
      ConditionExpression: '#incarnation = :layout AND #value <= :bound',
      ExpressionAttributeValues: {
        ':by': 5,
        ':one': 1,
        ':now': NOW,
        ':op': 'increment',
        ':actor': ACTOR,
        ':bound': BOUND4 - 5,
        ':layout': INCARNATION,
      },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    expect(snapshotKeys()).toEqual([KEYS4.map((key) => `counters-table/${key}`)]);
    expect(counter).toMatchObject({
      name: 'hot',
      value: 22,
      version: 10,
      updated_at: NOW,
      shards: 4,
      shardVersions: [3, 2, 1, 4],
    });
  });

  it('sends the increment of shard 0 to the counter’s own item, with its full update and the incarnation condition', async () => {
    // Prepare
    storeShardedCounter();
    serveUpdates();
    serveSnapshots();
    pickShard(0);

    // Act
    const counter = await repository().increment({ ...change(), by: 5 });

    // Assess
    const second = updateInputs()[1];
    expect(second?.Key).toEqual({ name: 'hot' });
    expect(second?.UpdateExpression).toBe(
      'ADD #value :by, #version :one SET #created = if_not_exists(#created, :now), #updated = :now, #op = :op, ' +
        '#actor = :actor, #incarnation = if_not_exists(#incarnation, :incarnation), #kind = if_not_exists(#kind, :kind)',
    );
    expect(second?.ConditionExpression).toBe('#incarnation = :layout AND #value <= :bound');
    expect(second?.ExpressionAttributeNames).toMatchObject({ '#incarnation': 'incarnation' });
    expect(second?.ExpressionAttributeNames).not.toHaveProperty('#shards');
    expect(second?.ExpressionAttributeValues).toMatchObject({
      ':layout': INCARNATION,
      ':bound': BOUND4 - 5,
      ':by': 5,
    });
    expect(counter).toMatchObject({ value: 22, version: 10, shardVersions: [4, 2, 0, 4] });
  });

  it('bounds a decrement of a shard from below with -bound - by, and sends no bound for 0', async () => {
    // Prepare
    storeShardedCounter();
    serveUpdates();
    serveSnapshots();
    pickShard(3);
    const counters = repository();

    // Act
    const down = await counters.increment({ ...change(), by: -3 });
    const zero = await counters.increment({ ...change(), by: 0 });

    // Assess
    const [, minus, nothing] = updateInputs();
    expect(minus?.Key).toEqual({ name: 'hot#3' });
    expect(minus?.ConditionExpression).toBe('#incarnation = :layout AND #value >= :bound');
    expect(minus?.ExpressionAttributeValues?.[':bound']).toBe(-BOUND4 + 3);
    expect(nothing?.ConditionExpression).toBe('#incarnation = :layout');
    expect(nothing?.ExpressionAttributeValues).not.toHaveProperty(':bound');
    expect(down).toMatchObject({ value: 14, version: 10 });
    expect(zero).toMatchObject({ value: 14, version: 11, shardVersions: [3, 2, 0, 6] });
  });

  it('sends a second increment straight to a shard: the layout is remembered', async () => {
    // Prepare
    storeShardedCounter();
    serveUpdates();
    serveSnapshots();
    pickShard(1);
    const counters = repository();
    await counters.increment({ ...change(), by: 1 });

    // Act
    const counter = await counters.increment({ ...change(), by: 1 });

    // Assess
    expect(updateInputs().map((input) => input.Key?.name)).toEqual(['hot', 'hot#1', 'hot#1']);
    expect(updateInputs()[2]?.ConditionExpression).toBe('#incarnation = :layout AND #value <= :bound');
    expect(counter).toMatchObject({ value: 19, version: 11, shardVersions: [3, 4, 0, 4] });
  });

  it('learns the layout from a read too, so an increment after a get goes straight to a shard', async () => {
    // Prepare
    storeShardedCounter();
    ddbMock.on(GetCommand).resolves({ Item: rootItem() });
    serveUpdates();
    serveSnapshots();
    pickShard(2);
    const counters = repository();
    await counters.get(NAME);

    // Act
    await counters.increment({ ...change(), by: 1 });

    // Assess
    expect(updateInputs().map((input) => input.Key?.name)).toEqual(['hot#2']);
  });

  it('remembers layouts per repository instance: another instance learns it again', async () => {
    // Prepare
    storeShardedCounter();
    serveUpdates();
    serveSnapshots();
    pickShard(1);
    await repository().increment({ ...change(), by: 1 });

    // Act
    await repository().increment({ ...change(), by: 1 });

    // Assess
    expect(updateInputs().map((input) => input.Key?.name)).toEqual(['hot', 'hot#1', 'hot', 'hot#1']);
  });

  it('refuses an increment that would take its shard past the bound with CounterOutOfRangeError naming the total and the shards', async () => {
    // Prepare
    storeShardedCounter();
    table.set('hot#2', shardItem(2, BOUND4, 7, '2025-01-01T00:00:00.000Z'));
    serveUpdates();
    serveSnapshots();
    pickShard(2);

    // Act
    const changing = repository().increment({ ...change(), by: 1 });

    // Assess
    await expect(changing).rejects.toBeInstanceOf(CounterOutOfRangeError);
    await expect(changing).rejects.toMatchObject({
      counter: 'hot',
      current: BOUND4 + 17,
      attempted: 'adding 1',
      shards: 4,
    });
    expect(table.get('hot#2')).toMatchObject({ value: BOUND4, version: 7 });
  });

  it('refuses an increment larger than any shard may take with CounterOutOfRangeError, though the total would fit', async () => {
    // Prepare
    storeShardedCounter();
    serveUpdates();
    serveSnapshots();
    pickShard(2);

    // Act
    const changing = repository().increment({ ...change(), by: BOUND4 + 1 });

    // Assess
    await expect(changing).rejects.toMatchObject({
      name: 'CounterOutOfRangeError',
      current: 17,
      attempted: `adding ${BOUND4 + 1}`,
      shards: 4,
    });
    expect(updateInputs()[1]?.ExpressionAttributeValues?.[':bound']).toBe(-1);
    expect(table.get('hot#2')).toMatchObject({ value: 0, version: 0 });
  });

  it('learns the layout again when the one it remembers is stale: the counter was deleted and created with other shards', async () => {
    // Prepare
    storeShardedCounter();
    serveUpdates();
    serveSnapshots();
    // Shard 2 of 4, then shard 1 of 2.
    vi.spyOn(Math, 'random').mockReturnValue(0.6);
    const counters = repository();
    await counters.increment({ ...change(), by: 1 });
    table.clear();
    table.set('hot', rootItem({ value: 0, version: 1, incarnation: 'inc-reborn', shards: 2 }));
    table.set('hot#1', shardItem(1, 0, 0, NOW, 'inc-reborn'));

    // Act
    const counter = await counters.increment({ ...change(), by: 1 });

    // Assess
    const inputs = updateInputs();
    expect(inputs.map((input) => input.Key?.name)).toEqual(['hot', 'hot#2', 'hot#2', 'hot', 'hot#1']);
    expect(inputs.map((input) => input.ExpressionAttributeValues?.[':layout'])).toEqual([
      undefined,
      INCARNATION,
      INCARNATION,
      undefined,
      'inc-reborn',
    ]);
    expect(inputs[4]?.ExpressionAttributeValues?.[':bound']).toBe(shardBound(2) - 1);
    expect(snapshotKeys().at(-1)).toEqual(['counters-table/hot', 'counters-table/hot#1']);
    expect(counter).toMatchObject({
      value: 1,
      version: 2,
      incarnation: 'inc-reborn',
      shards: 2,
      shardVersions: [1, 1],
    });
  });

  it('treats a shard of another incarnation as a stale layout, not as a refused bound: the counter was created again', async () => {
    // Prepare
    storeShardedCounter();
    serveUpdates();
    serveSnapshots();
    pickShard(2);
    const counters = repository();
    await counters.increment({ ...change(), by: 1 });
    table.clear();
    table.set('hot', rootItem({ value: 0, version: 1, incarnation: 'inc-reborn' }));
    for (const shard of [1, 2, 3]) table.set(`hot#${shard}`, shardItem(shard, 0, 0, NOW, 'inc-reborn'));

    // Act
    const counter = await counters.increment({ ...change(), by: 1 });

    // Assess
    const inputs = updateInputs();
    expect(inputs.map((input) => [input.Key?.name, input.ExpressionAttributeValues?.[':layout']])).toEqual([
      ['hot', undefined],
      ['hot#2', INCARNATION],
      ['hot#2', INCARNATION],
      ['hot', undefined],
      ['hot#2', 'inc-reborn'],
    ]);
    expect(counter).toMatchObject({
      value: 1,
      version: 2,
      incarnation: 'inc-reborn',
      shardVersions: [1, 0, 1, 0],
    });
  });

  it('falls back to the counter’s own item when a remembered shard is gone: the counter was deleted', async () => {
    // Prepare
    storeShardedCounter();
    serveUpdates();
    serveSnapshots();
    pickShard(3);
    const counters = repository();
    await counters.increment({ ...change(), by: 1 });
    table.clear();

    // Act
    const counter = await counters.increment({ ...change(), by: 1 });

    // Assess
    const inputs = updateInputs();
    expect(inputs.map((input) => input.Key?.name)).toEqual(['hot', 'hot#3', 'hot#3', 'hot']);
    expect(inputs[3]?.ConditionExpression).toBe(
      'attribute_not_exists(#shards) AND (attribute_not_exists(#value) OR #value <= :bound)' +
        ' AND (attribute_not_exists(#max) OR #room_above >= :room)',
    );
    expect(counter).toStrictEqual({
      name: 'hot',
      value: 1,
      version: 1,
      created_at: NOW,
      updated_at: NOW,
      incarnation: 'inc-new',
      op: 'increment',
      actor: ACTOR,
    });
  });
});

describe('DynamoCounterRepository.increment of a sharded counter with If-Match', () => {
  it('conditions the change on every shard’s version in one transaction and answers exactly what it made', async () => {
    // Prepare
    storeShardedCounter();
    serveUpdates();
    serveSnapshots();
    ddbMock.on(TransactWriteCommand).resolves({});
    pickShard(2);

    // Act
    const counter = await repository().increment({ ...change({ expectedVersion: 9 }), by: 5 });

    // Assess
    expect(updateInputs()).toHaveLength(1);
    expect(updateInputs()[0]?.ConditionExpression).toBe(
      'attribute_not_exists(#shards) AND #version = :expected AND (attribute_not_exists(#value) OR #value <= :bound)' +
        ' AND (attribute_not_exists(#max) OR #room_above >= :room)',
    );
    expect(snapshotKeys()).toHaveLength(1);
    const check = (name: string, version: number) => ({
      ConditionCheck: {
        TableName: 'counters-table',
        Key: { name },
        ConditionExpression: '#incarnation = :layout AND #version = :seen',
        ExpressionAttributeNames: { '#incarnation': 'incarnation', '#version': 'version' },
        ExpressionAttributeValues: { ':layout': INCARNATION, ':seen': version },
      },
    });
    expect(onlyTransactWrite()).toEqual([
      check('hot', 3),
      check('hot#1', 2),
      {
        Update: {
          TableName: 'counters-table',
          Key: { name: 'hot#2' },
          UpdateExpression: 'ADD #value :by, #version :one SET #updated = :now, #op = :op, #actor = :actor',
          ExpressionAttributeNames: {
            '#value': 'value',
            '#version': 'version',
            '#updated': 'updated_at',
            '#op': 'op',
            '#actor': 'actor',
            '#incarnation': 'incarnation',
          },
          ConditionExpression: '#incarnation = :layout AND #version = :seen AND #value <= :bound',
          ExpressionAttributeValues: {
            ':by': 5,
            ':one': 1,
            ':now': NOW,
            ':op': 'increment',
            ':actor': ACTOR,
            ':bound': BOUND4 - 5,
            ':layout': INCARNATION,
            ':seen': 0,
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      },
      check('hot#3', 4),
    ]);
    expect(counter).toMatchObject({
      name: 'hot',
      value: 22,
      version: 10,
      updated_at: NOW,
      op: 'increment',
      actor: ACTOR,
      shards: 4,
      shardVersions: [3, 2, 1, 4],
    });
  });

  it('refuses with VersionMismatchError naming the total version when If-Match names another, sending no write', async () => {
    // Prepare
    storeShardedCounter();
    serveUpdates();
    serveSnapshots();

    // Act
    const changing = repository().increment({ ...change({ expectedVersion: 8 }), by: 5 });

    // Assess
    await expect(changing).rejects.toBeInstanceOf(VersionMismatchError);
    await expect(changing).rejects.toMatchObject({ counter: 'hot', expected: 8, actual: 9 });
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it('reads again when the transaction finds a shard moved, and refuses once the total is past the If-Match version', async () => {
    // Prepare
    storeShardedCounter();
    serveUpdates();
    serveSnapshots();
    pickShard(2);
    ddbMock.on(TransactWriteCommand).callsFake(async () => {
      // Another increment landed on shard 1 between the snapshot and the transaction.
      table.set('hot#1', shardItem(1, 3, 3, NOW));
      throw cancelledWith([
        { Code: 'ConditionalCheckFailed' },
        { Code: 'ConditionalCheckFailed' },
        { Code: 'None' },
      ]);
    });

    // Act
    const changing = repository().increment({ ...change({ expectedVersion: 9 }), by: 5 });

    // Assess
    await expect(changing).rejects.toMatchObject({ name: 'VersionMismatchError', expected: 9, actual: 10 });
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(1);
    expect(snapshotKeys()).toHaveLength(2);
  });

  it('refuses with CounterOutOfRangeError when its own shard, still at the version seen, refused the bound', async () => {
    // Prepare
    storeShardedCounter();
    serveUpdates();
    serveSnapshots();
    pickShard(2);
    ddbMock
      .on(TransactWriteCommand)
      .rejects(
        cancelledWith([
          { Code: 'None' },
          { Code: 'None' },
          { Code: 'ConditionalCheckFailed', Item: shardItem(2, 0, 0, '2025-01-01T00:00:00.000Z') },
          { Code: 'None' },
        ]),
      );

    // Act
    const changing = repository().increment({ ...change({ expectedVersion: 9 }), by: BOUND4 + 1 });

    // Assess
    await expect(changing).rejects.toBeInstanceOf(CounterOutOfRangeError);
    await expect(changing).rejects.toMatchObject({ current: 17, shards: 4 });
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(1);
  });
});

describe('DynamoCounterRepository.get of a sharded counter', () => {
  it('sums one TransactGetItems snapshot of all its items: value, version, latest updated_at and each shard’s version', async () => {
    // Prepare
    storeShardedCounter();
    ddbMock.on(GetCommand).resolves({ Item: rootItem() });
    serveSnapshots();

    // Act
    const counter = await repository().get(NAME);

    // Assess
    expect(ddbMock.commandCalls(GetCommand)).toHaveLength(1);
    expect(snapshotKeys()).toEqual([KEYS4.map((key) => `counters-table/${key}`)]);
    expect(counter).toStrictEqual({
      name: 'hot',
      value: 17,
      version: 9,
      created_at: '2025-01-01T00:00:00.000Z',
      updated_at: '2025-01-01T00:00:07.000Z',
      incarnation: INCARNATION,
      op: 'increment',
      actor: ACTOR,
      shards: 4,
      shardVersions: [3, 2, 0, 4],
    });
  });

  it('reads a sharded counter it has read before with the snapshot alone, which holds its own item too', async () => {
    // Prepare
    storeShardedCounter();
    ddbMock.on(GetCommand).resolves({ Item: rootItem() });
    serveSnapshots();
    const counters = repository();
    await counters.get(NAME);

    // Act
    const again = await counters.get(NAME);

    // Assess
    expect(ddbMock.commandCalls(GetCommand)).toHaveLength(1);
    expect(snapshotKeys()).toHaveLength(2);
    expect(again).toMatchObject({ value: 17, version: 9 });
  });

  it('answers undefined when the counter was deleted between the read of its item and the snapshot', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: rootItem() });
    serveSnapshots();

    // Act
    const counter = await repository().get(NAME);

    // Assess
    expect(counter).toBeUndefined();
    expect(snapshotKeys()).toHaveLength(1);
  });

  it('reads the snapshot again when a racing transaction cancels it', async () => {
    // Prepare
    storeShardedCounter();
    ddbMock.on(GetCommand).resolves({ Item: rootItem() });
    pickShard(0);
    ddbMock
      .on(TransactGetCommand)
      .rejectsOnce(cancelledWith([{ Code: 'TransactionConflict' }]))
      .callsFake(async (input: TransactGetCommandInput) => ({
        Responses: (input.TransactItems ?? []).map((item) => ({
          Item: table.get(String(item.Get?.Key?.name)),
        })),
      }));

    // Act
    const counter = await repository().get(NAME);

    // Assess
    expect(ddbMock.commandCalls(TransactGetCommand)).toHaveLength(2);
    expect(counter).toMatchObject({ value: 17, version: 9 });
  });

  it('sums consistent reads of each shard when writes in flight keep cancelling the snapshot', async () => {
    // Prepare: a hot counter, whose shards are always being written somewhere.
    storeShardedCounter();
    ddbMock.on(GetCommand).callsFake(async (input: { Key?: { name?: string } }) => ({
      Item: table.get(String(input.Key?.name)),
    }));
    ddbMock.on(TransactGetCommand).rejects(cancelledWith(KEYS4.map(() => ({ Code: 'TransactionConflict' }))));

    // Act
    const counter = await repository().get(NAME);

    // Assess: two snapshots tried, then the counter's own item and each shard read on its own, consistently.
    expect(ddbMock.commandCalls(TransactGetCommand)).toHaveLength(2);
    const reads = ddbMock.commandCalls(GetCommand).map((call) => call.args[0].input);
    expect(reads.slice(1).map((read) => [read.Key?.name, read.ConsistentRead])).toEqual(
      KEYS4.map((key) => [key, true]),
    );
    expect(counter).toMatchObject({ value: 17, version: 9, shardVersions: [3, 2, 0, 4] });
  });
});

describe('DynamoCounterRepository.set and a sharded counter', () => {
  it('creates a counter over N items in one transaction: its own item only if the name is free, N-1 shards at 0', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    const counter = await repository().set({ ...change({ newIncarnation: 'inc-7' }), value: 7, shards: 3 });

    // Assess
    const shard = (index: number) => ({
      Put: {
        TableName: 'counters-table',
        Item: {
          name: `hot#${index}`,
          counter: 'hot',
          shard: index,
          value: 0,
          version: 0,
          updated_at: NOW,
          incarnation: 'inc-7',
          op: 'increment',
          actor: ACTOR,
        },
      },
    });
    expect(onlyTransactWrite()).toEqual([
      {
        Put: {
          TableName: 'counters-table',
          Item: {
            name: 'hot',
            value: 7,
            version: 1,
            created_at: NOW,
            updated_at: NOW,
            incarnation: 'inc-7',
            op: 'set',
            actor: ACTOR,
            shards: 3,
            kind: 'counter',
          },
          // No counter holds the name (an item with only a keyed change's probe holds none).
          ConditionExpression: 'attribute_not_exists(#version)',
          ExpressionAttributeNames: { '#version': 'version' },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      },
      shard(1),
      shard(2),
    ]);
    expect(ddbMock.calls()).toHaveLength(1);
    expect(counter).toStrictEqual({
      name: 'hot',
      value: 7,
      version: 1,
      created_at: NOW,
      updated_at: NOW,
      incarnation: 'inc-7',
      op: 'set',
      actor: ACTOR,
      shards: 3,
      shardVersions: [1, 0, 0],
    });
  });

  it('remembers the layout it created, so the next increment goes straight to a shard', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const counters = repository();
    await counters.set({ ...change({ newIncarnation: 'inc-7' }), value: 7, shards: 3 });
    table.set('hot', rootItem({ value: 7, version: 1, incarnation: 'inc-7', shards: 3 }));
    table.set('hot#1', shardItem(1, 0, 0, NOW, 'inc-7'));
    table.set('hot#2', shardItem(2, 0, 0, NOW, 'inc-7'));
    serveUpdates();
    serveSnapshots();
    pickShard(1, 3);

    // Act
    const counter = await counters.increment({ ...change(), by: 2 });

    // Assess
    expect(updateInputs().map((input) => input.Key?.name)).toEqual(['hot#1']);
    expect(updateInputs()[0]?.ExpressionAttributeValues).toMatchObject({
      ':layout': 'inc-7',
      ':bound': 3_002_399_751_580_330 - 2,
    });
    expect(counter).toMatchObject({ value: 9, version: 2, shardVersions: [1, 1, 0] });
  });

  it('creates a counter at exactly its shards’ bound', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    const counter = await repository().set({ ...change(), value: -BOUND4, shards: 4 });

    // Assess
    expect(counter).toMatchObject({ value: -BOUND4, shards: 4 });
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(1);
  });

  it('refuses a value beyond what one shard may hold with CounterOutOfRangeError, sending nothing', async () => {
    // Act
    const creating = repository().set({ ...change(), value: BOUND4 + 1, shards: 4 });

    // Assess
    await expect(creating).rejects.toBeInstanceOf(CounterOutOfRangeError);
    await expect(creating).rejects.toMatchObject({
      counter: 'hot',
      current: 0,
      attempted: `setting ${BOUND4 + 1}`,
      shards: 4,
    });
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it('refuses shards for a name that exists with ShardLayoutError, naming the existing layout', async () => {
    // Prepare
    ddbMock
      .on(TransactWriteCommand)
      .rejects(
        cancelledWith([{ Code: 'ConditionalCheckFailed', Item: rootItem({ shards: 2 }) }, { Code: 'None' }]),
      );

    // Act
    const creating = repository().set({ ...change(), value: 1, shards: 3 });

    // Assess
    await expect(creating).rejects.toBeInstanceOf(ShardLayoutError);
    await expect(creating).rejects.toThrow(
      'Counter "hot" already exists spread over 2 shards; shards are chosen when a counter is created.',
    );
  });

  it('refuses shards for a plain counter that exists with ShardLayoutError', async () => {
    // Prepare
    ddbMock
      .on(TransactWriteCommand)
      .rejects(
        cancelledWith([
          { Code: 'ConditionalCheckFailed', Item: counterItem({ name: NAME, value: 4, version: 2 }) },
          { Code: 'None' },
          { Code: 'None' },
        ]),
      );

    // Act
    const creating = repository().set({ ...change(), value: 1, shards: 3 });

    // Assess
    await expect(creating).rejects.toMatchObject({
      name: 'ShardLayoutError',
      counter: 'hot',
      message: expect.stringMatching(/^Counter "hot" already exists; shards are chosen/),
    });
  });

  it('refuses to create a sharded counter under an If-Match other than 0, naming the version found, writing nothing', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: counterItem({ name: NAME, value: 4, version: 2 }) });

    // Act
    const creating = repository().set({ ...change({ expectedVersion: 5 }), value: 1, shards: 3 });

    // Assess
    await expect(creating).rejects.toMatchObject({ name: 'VersionMismatchError', expected: 5, actual: 2 });
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it('refuses to create a sharded counter under If-Match 0 when the name was taken meanwhile', async () => {
    // Prepare
    ddbMock
      .on(TransactWriteCommand)
      .rejects(
        cancelledWith([
          { Code: 'ConditionalCheckFailed', Item: counterItem({ name: NAME, value: 4, version: 2 }) },
          { Code: 'None' },
        ]),
      );

    // Act
    const creating = repository().set({ ...change({ expectedVersion: 0 }), value: 1, shards: 2 });

    // Assess
    await expect(creating).rejects.toMatchObject({ name: 'VersionMismatchError', expected: 0, actual: 2 });
  });

  it('refuses a set of a sharded counter with ShardLayoutError, writing nothing', async () => {
    // Prepare
    storeShardedCounter();
    serveUpdates();

    // Act
    const setting = repository().set({ ...change(), value: 100 });

    // Assess
    await expect(setting).rejects.toBeInstanceOf(ShardLayoutError);
    await expect(setting).rejects.toMatchObject({
      counter: 'hot',
      message: expect.stringContaining('Counter "hot" is spread over 4 shards'),
    });
    expect(updateInputs()).toHaveLength(1);
    expect(updateInputs()[0]?.ConditionExpression).toBe(
      'attribute_not_exists(#shards) AND (attribute_not_exists(#max) OR #max >= :value) AND ' +
        '(attribute_not_exists(#min) OR #min <= :value)',
    );
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
    expect(ddbMock.commandCalls(PutCommand)).toHaveLength(0);
    expect(table.get('hot')).toEqual(rootItem());
  });

  it('treats shards: 1 as a plain set', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem({ name: NAME, value: 3, op: 'set' }) });

    // Act
    const counter = await repository().set({ ...change(), value: 3, shards: 1 });

    // Assess
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
    expect(updateInputs()[0]?.ExpressionAttributeValues).toMatchObject({ ':value': 3 });
    expect(counter.shards).toBeUndefined();
  });
});

describe('DynamoCounterRepository.delete of a sharded counter', () => {
  it('deletes every item in one transaction, conditioned on the incarnation', async () => {
    // Prepare
    storeShardedCounter();
    ddbMock.on(DeleteCommand).rejects(conditionFailed(rootItem()));
    serveSnapshots();
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    await repository().delete({ name: NAME });

    // Assess
    expect(ddbMock.commandCalls(DeleteCommand)[0]?.args[0].input.ConditionExpression).toBe(
      'attribute_not_exists(#shards) AND attribute_exists(#version)',
    );
    expect(onlyTransactWrite()).toEqual(
      KEYS4.map((name) => ({
        Delete: {
          TableName: 'counters-table',
          Key: { name },
          ConditionExpression: '#incarnation = :layout',
          ExpressionAttributeNames: { '#incarnation': 'incarnation' },
          ExpressionAttributeValues: { ':layout': INCARNATION },
        },
      })),
    );
    expect(ddbMock.commandCalls(TransactGetCommand)).toHaveLength(1);
  });

  it('with If-Match, conditions each item’s delete on the version it had in the snapshot', async () => {
    // Prepare
    storeShardedCounter();
    ddbMock.on(DeleteCommand).rejects(conditionFailed(rootItem()));
    serveSnapshots();
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    await repository().delete({ name: NAME, expectedVersion: 9 });

    // Assess
    const versions = [3, 2, 0, 4];
    expect(onlyTransactWrite()).toEqual(
      KEYS4.map((name, index) => ({
        Delete: {
          TableName: 'counters-table',
          Key: { name },
          ConditionExpression: '#incarnation = :layout AND #version = :seen',
          ExpressionAttributeNames: { '#incarnation': 'incarnation', '#version': 'version' },
          ExpressionAttributeValues: { ':layout': INCARNATION, ':seen': versions[index] },
        },
      })),
    );
  });

  it('refuses an If-Match for another total version with VersionMismatchError, deleting nothing', async () => {
    // Prepare
    storeShardedCounter();
    ddbMock.on(DeleteCommand).rejects(conditionFailed(rootItem()));
    serveSnapshots();

    // Act
    const deleting = repository().delete({ name: NAME, expectedVersion: 3 });

    // Assess
    await expect(deleting).rejects.toMatchObject({ name: 'VersionMismatchError', expected: 3, actual: 9 });
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it('forgets the layout it deleted: the next increment tries the counter’s own item again', async () => {
    // Prepare
    storeShardedCounter();
    serveUpdates();
    serveSnapshots();
    pickShard(1);
    const counters = repository();
    await counters.increment({ ...change(), by: 1 });
    ddbMock.on(DeleteCommand).rejects(conditionFailed(rootItem()));
    serveDeletes();
    await counters.delete({ name: NAME });

    // Act
    await counters.increment({ ...change(), by: 1 });

    // Assess
    expect(updateInputs().map((input) => input.Key?.name)).toEqual(['hot', 'hot#1', 'hot']);
  });
  it('never answers a delete without If-Match with VersionMismatchError, even when every transaction is cancelled', async () => {
    // Prepare
    storeShardedCounter();
    ddbMock.on(DeleteCommand).rejects(conditionFailed(rootItem()));
    serveSnapshots();
    pickShard(0);
    ddbMock
      .on(TransactWriteCommand)
      .rejects(cancelledWith(KEYS4.map(() => ({ Code: 'TransactionConflict' }))));

    // Act
    const deleting = repository().delete({ name: NAME });

    // Assess
    await expect(deleting).rejects.toBeInstanceOf(CounterBusyError);
    // Tried again with a jittered pause while only other transactions stood in its way (CONFLICT_ATTEMPTS).
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(8);
  });
});

describe('DynamoCounterRepository.list with sharded counters', () => {
  it('answers a sharded counter with the sum of its snapshot and a plain one as its item', async () => {
    // Prepare
    storeShardedCounter();
    const plain = counterItem({ name: 'hot.plain', value: 4, version: 2 });
    ddbMock.on(QueryCommand).resolves({
      Items: [
        { kind: 'counter', name: 'hot' },
        { kind: 'counter', name: 'hot.plain' },
      ],
    });
    ddbMock.on(BatchGetCommand).resolves({ Responses: { 'counters-table': [plain, rootItem()] } });
    serveSnapshots();

    // Act
    const page = await repository().list({ prefix: 'hot', limit: 10 });

    // Assess
    expect(snapshotKeys()).toEqual([KEYS4.map((key) => `counters-table/${key}`)]);
    expect(page.items.map(({ name, value, version, shards }) => ({ name, value, version, shards }))).toEqual([
      { name: 'hot', value: 17, version: 9, shards: 4 },
      { name: 'hot.plain', value: 4, version: 2, shards: undefined },
    ]);
    expect(page.hasMore).toBe(false);
    expect(page.lastName).toBe('hot.plain');
  });

  it('leaves out a sharded counter deleted between the listing and its snapshot', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: [{ kind: 'counter', name: 'hot' }] });
    ddbMock.on(BatchGetCommand).resolves({ Responses: { 'counters-table': [rootItem()] } });
    serveSnapshots();

    // Act
    const page = await repository().list({ prefix: '', limit: 10 });

    // Assess
    expect(page.items).toEqual([]);
    expect(page.lastName).toBe('hot');
  });
});

describe('DynamoCounterRepository: keyed changes of a sharded counter (idempotency.ts)', () => {
  const RECORD = 'record-7f3a';
  const ATTEMPT = 'attempt-1';
  const ANSWER = { statusCode: 204, headers: {}, body: '' };

  function keyed(reach: (items: string[]) => Promise<void> = async () => undefined) {
    return { id: RECORD, attempt: ATTEMPT, reach, answer: () => ANSWER };
  }

  function keyedRepository(): DynamoCounterRepository {
    return new DynamoCounterRepository(client, { ...TABLES, idempotency: 'idempotency-table' });
  }

  it("writes one shard with the attempt's tag, fenced, after recording that it may write that shard", async () => {
    // Prepare: the layout is learnt from the refused write to the counter's own item
    storeShardedCounter();
    serveUpdates();
    serveSnapshots();
    pickShard(2);
    const reach = vi.fn(async (_items: string[]) => {
      // The shard is recorded before it is written: no update has reached it yet.
      expect(updateInputs().map((input) => input.Key?.name)).toEqual(['hot']);
    });

    // Act
    await keyedRepository().increment({ ...change(), by: 1, attempt: keyed(reach) });

    // Assess
    expect(reach).toHaveBeenCalledWith(['hot#2']);
    const shardWrite = updateInputs()[1];
    expect(shardWrite?.Key).toEqual({ name: 'hot#2' });
    expect(shardWrite?.UpdateExpression).toBe(
      'ADD #value :by, #version :one SET #updated = :now, #op = :op, #actor = :actor, #tag_id = :tag_id, #tag_attempt = :tag_attempt',
    );
    expect(shardWrite?.ConditionExpression).toBe(
      'NOT contains(#fence, :attempt) AND #incarnation = :layout AND #value <= :bound',
    );
    expect(shardWrite?.ExpressionAttributeNames).toMatchObject({
      '#fence': `fence_${RECORD}`,
      '#tag_id': 'tag_id',
      '#tag_attempt': 'tag_attempt',
    });
    expect(shardWrite?.ExpressionAttributeValues).toMatchObject({
      ':tag_id': RECORD,
      ':tag_attempt': ATTEMPT,
      ':attempt': ATTEMPT,
    });
    if (shardWrite !== undefined) expectEveryPlaceholderUsed(shardWrite);
  });

  it('refuses the write of an attempt a recovery fenced off its shard with AttemptFencedError', async () => {
    // Prepare
    storeShardedCounter();
    serveSnapshots();
    pickShard(1);
    ddbMock
      .on(UpdateCommand)
      .rejectsOnce(conditionFailed(rootItem()))
      .rejectsOnce(
        conditionFailed({
          ...shardItem(1, 2, 2, '2025-01-01T00:00:07.000Z'),
          [`fence_${RECORD}`]: new Set([ATTEMPT]),
        }),
      );

    // Act
    const writing = keyedRepository().increment({ ...change(), by: 1, attempt: keyed() });

    // Assess
    await expect(writing).rejects.toBeInstanceOf(AttemptFencedError);
  });

  it('creates a sharded counter with its answer in the same transaction, the record last', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    await keyedRepository().set({
      ...change({ newIncarnation: 'inc-7' }),
      value: 7,
      shards: 2,
      attempt: keyed(),
    });

    // Assess
    const items = onlyTransactWrite();
    expect(items.map((item) => Object.keys(item)[0])).toEqual(['Put', 'Put', 'Update']);
    expect(items[2]?.Update).toMatchObject({
      TableName: 'idempotency-table',
      Key: { id: RECORD },
      ConditionExpression: '#owner = :owner AND #status = :in_flight',
      ExpressionAttributeValues: expect.objectContaining({ ':answer': ANSWER, ':owner': ATTEMPT }),
    });
  });

  it('deletes every shard with its answer in the same transaction, and is fenced by the record', async () => {
    // Prepare: the plain delete with its answer is refused by the counter's own item, which is sharded;
    // the sharded delete then by the record, which a recovery took over meanwhile.
    storeShardedCounter();
    serveSnapshots();
    ddbMock.on(TransactWriteCommand).callsFake(async (input: TransactWriteCommandInput) => {
      if (input.TransactItems?.length === 2) {
        throw cancelledWith([{ Code: 'ConditionalCheckFailed', Item: rootItem() }, { Code: 'None' }]);
      }
      throw cancelledWith([...KEYS4.map(() => ({ Code: 'None' })), { Code: 'ConditionalCheckFailed' }]);
    });

    // Act
    const deleting = keyedRepository().delete({ name: NAME, attempt: keyed() });

    // Assess
    await expect(deleting).rejects.toBeInstanceOf(AttemptFencedError);
    const calls = ddbMock.commandCalls(TransactWriteCommand);
    expect(calls).toHaveLength(2);
    const items = calls[1]?.args[0].input.TransactItems ?? [];
    expect(items.map((item) => Object.keys(item)[0])).toEqual([
      'Delete',
      'Delete',
      'Delete',
      'Delete',
      'Update',
    ]);
    expect(items[4]?.Update?.Key).toEqual({ id: RECORD });
  });
});
