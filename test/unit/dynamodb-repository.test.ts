import {
  BatchGetCommand,
  type BatchGetCommandInput,
  DeleteCommand,
  GetCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoCounterRepository } from '../../functions/counter/dynamodb-repository.ts';
import {
  CounterOutOfRangeError,
  InvalidCursorError,
  VersionMismatchError,
} from '../../functions/counter/errors.ts';
import type { ChangeInput } from '../../functions/counter/repository.ts';
import { MAX_VALUE, MIN_VALUE } from '../../functions/counter/schema.ts';
import { listCounters } from '../../functions/counter/service.ts';
import { counterItem } from '../support/counter-items.ts';
import { useDocumentClientMock } from '../support/document-client-mock.ts';
import { conditionFailed, expectEveryPlaceholderUsed } from '../support/dynamodb-answers.ts';

const TABLES = { counters: 'counters-table', history: 'history-table', rollups: 'rollups-table' };
const { ddbMock, client } = useDocumentClientMock();

function repository(): DynamoCounterRepository {
  return new DynamoCounterRepository(client, TABLES);
}

function change(overrides: Partial<ChangeInput> = {}): ChangeInput {
  return {
    name: 'a',
    actor: 'arn:aws:iam::000000000000:user/tester',
    now: '2025-01-01T00:00:00.000Z',
    newIncarnation: 'inc-new',
    ...overrides,
  };
}

function onlyUpdateInput() {
  const calls = ddbMock.commandCalls(UpdateCommand);
  expect(calls).toHaveLength(1);
  const input = calls[0]?.args[0].input;
  if (input === undefined) throw new Error('no UpdateCommand was sent');
  return input;
}

describe('DynamoCounterRepository.get', () => {
  it('reads the item with a consistent read and returns it parsed', async () => {
    // Prepare
    const { kind: _kind, ...stored } = counterItem({ value: 9 });
    ddbMock.on(GetCommand).resolves({ Item: counterItem({ value: 9 }) });

    // Act
    const counter = await repository().get('a');

    // Assess
    expect(ddbMock.commandCalls(GetCommand)[0]?.args[0].input).toEqual({
      TableName: 'counters-table',
      Key: { name: 'a' },
      ConsistentRead: true,
    });
    expect(counter).toStrictEqual(stored);
  });

  it('returns undefined when there is no item', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({});

    // Act
    const counter = await repository().get('a');

    // Assess
    expect(counter).toBeUndefined();
  });

  it('refuses an item that is not a counter rather than passing it on', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: { name: 'a', value: 'lots' } });

    // Act
    const reading = repository().get('a');

    // Assess
    await expect(reading).rejects.toThrow();
  });

  it("reads an item that holds only a keyed change's recovery probe as no counter", async () => {
    // Prepare: what counter-writes.ts probeUpdate leaves where no counter was
    ddbMock.on(GetCommand).resolves({
      Item: { name: 'a', probe: 'record attempt nonce', fence_record: new Set(['attempt']) },
    });

    // Act
    const counter = await repository().get('a');

    // Assess
    expect(counter).toBeUndefined();
  });
});

describe('DynamoCounterRepository.increment', () => {
  it('sends one UpdateCommand that ADDs value and version under an upper bound, and never reads first', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem({ value: 5 }) });

    // Act
    const counter = await repository().increment({ ...change(), by: 5 });

    // Assess
    const input = onlyUpdateInput();
    expect(ddbMock.calls()).toHaveLength(1);
    expect(ddbMock.commandCalls(GetCommand)).toHaveLength(0);
    expect(input.TableName).toBe('counters-table');
    expect(input.Key).toEqual({ name: 'a' });
    expect(input.UpdateExpression).toContain('ADD #value :by, #version :one');
    // Besides the range: the item is no shard of a sharded counter (docs/sharding.md), and a bounded
    // counter has the room above its value (change-rules.ts withinBounds).
    expect(input.ConditionExpression).toBe(
      'attribute_not_exists(#shards) AND (attribute_not_exists(#value) OR #value <= :bound)' +
        ' AND (attribute_not_exists(#max) OR #room_above >= :room)',
    );
    expect(input.UpdateExpression).toContain(
      'ADD #value :by, #version :one, #room_above :down, #room_below :by',
    );
    expect(input.ExpressionAttributeValues).toMatchObject({
      ':by': 5,
      ':one': 1,
      ':bound': MAX_VALUE - 5,
      ':down': -5,
      ':room': 5,
    });
    expectEveryPlaceholderUsed(input);
    expect(input.ExpressionAttributeNames).toMatchObject({ '#value': 'value', '#version': 'version' });
    expect(input.ReturnValues).toBe('ALL_NEW');
    expect(counter).toMatchObject({ name: 'a', value: 5 });
  });

  it('bounds a negative increment from below with MIN - by', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem({ value: -5 }) });

    // Act
    await repository().increment({ ...change(), by: -5 });

    // Assess
    const input = onlyUpdateInput();
    expect(input.ConditionExpression).toBe(
      'attribute_not_exists(#shards) AND (attribute_not_exists(#value) OR #value >= :bound)' +
        ' AND (attribute_not_exists(#min) OR #room_below >= :room)',
    );
    expect(input.ExpressionAttributeValues?.[':bound']).toBe(MIN_VALUE + 5);
    expect(input.ExpressionAttributeValues?.[':room']).toBe(5);
    expect(input.ExpressionAttributeValues?.[':by']).toBe(-5);
  });

  it('sends no condition for an increment by 0', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem({ value: 0 }) });

    // Act
    await repository().increment({ ...change(), by: 0 });

    // Assess
    const input = onlyUpdateInput();
    expect(input.ConditionExpression).toBe('attribute_not_exists(#shards)');
    expect(input.ExpressionAttributeValues).not.toHaveProperty(':bound');
  });

  it('writes the incarnation, creation time, op and actor only as if_not_exists or for this change', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem() });

    // Act
    await repository().increment({ ...change({ newIncarnation: 'inc-77', actor: 'arn:me' }), by: 1 });

    // Assess
    const input = onlyUpdateInput();
    expect(input.UpdateExpression).toContain('#incarnation = if_not_exists(#incarnation, :incarnation)');
    expect(input.UpdateExpression).toContain('#created = if_not_exists(#created, :now)');
    expect(input.ExpressionAttributeValues).toMatchObject({
      ':incarnation': 'inc-77',
      ':actor': 'arn:me',
      ':op': 'increment',
      ':now': '2025-01-01T00:00:00.000Z',
    });
  });

  it('adds the If-Match version to the condition', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem({ version: 4 }) });

    // Act
    await repository().increment({ ...change({ expectedVersion: 3 }), by: 1 });

    // Assess
    const input = onlyUpdateInput();
    expect(input.ConditionExpression).toBe(
      'attribute_not_exists(#shards) AND #version = :expected AND (attribute_not_exists(#value) OR #value <= :bound)' +
        ' AND (attribute_not_exists(#max) OR #room_above >= :room)',
    );
    expect(input.ExpressionAttributeValues?.[':expected']).toBe(3);
  });

  it('maps a failed range condition to CounterOutOfRangeError naming the current value', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed(counterItem({ value: MAX_VALUE, version: 4 })));

    // Act
    const changing = repository().increment({ ...change(), by: 1 });

    // Assess
    await expect(changing).rejects.toBeInstanceOf(CounterOutOfRangeError);
    await expect(changing).rejects.toMatchObject({ current: MAX_VALUE, attempted: 'adding 1' });
  });

  it('maps a failed condition to CounterOutOfRangeError when the If-Match version did match', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed(counterItem({ value: MIN_VALUE, version: 4 })));

    // Act
    const changing = repository().increment({ ...change({ expectedVersion: 4 }), by: -1 });

    // Assess
    await expect(changing).rejects.toBeInstanceOf(CounterOutOfRangeError);
    await expect(changing).rejects.toMatchObject({ current: MIN_VALUE, attempted: 'subtracting 1' });
  });

  it('maps a failed condition to VersionMismatchError when the If-Match version differs', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed(counterItem({ version: 4 })));

    // Act
    const changing = repository().increment({ ...change({ expectedVersion: 3 }), by: 1 });

    // Assess
    await expect(changing).rejects.toBeInstanceOf(VersionMismatchError);
    await expect(changing).rejects.toMatchObject({ expected: 3, actual: 4 });
  });

  it('maps a failed If-Match on an absent counter to VersionMismatchError', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed());

    // Act
    const changing = repository().increment({ ...change({ expectedVersion: 1 }), by: 1 });

    // Assess
    await expect(changing).rejects.toBeInstanceOf(VersionMismatchError);
    await expect(changing).rejects.toMatchObject({ expected: 1, actual: undefined });
  });

  it('passes other errors through unchanged', async () => {
    // Prepare
    const failure = new Error('socket hang up');
    ddbMock.on(UpdateCommand).rejects(failure);

    // Act
    const changing = repository().increment({ ...change(), by: 1 });

    // Assess
    await expect(changing).rejects.toBe(failure);
  });
});

describe('DynamoCounterRepository.set', () => {
  it('sends one UpdateCommand that SETs the value and grows the version from 0 if absent', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem({ value: 42, op: 'set' }) });

    // Act
    const counter = await repository().set({ ...change(), value: 42 });

    // Assess
    const input = onlyUpdateInput();
    expect(ddbMock.calls()).toHaveLength(1);
    expect(input.UpdateExpression).toContain(
      'SET #value = :value, #version = if_not_exists(#version, :zero) + :one',
    );
    expect(input.ExpressionAttributeValues).toMatchObject({
      ':value': 42,
      ':zero': 0,
      ':one': 1,
      ':op': 'set',
    });
    // A set that keeps the counter's bounds must land within them.
    expect(input.ConditionExpression).toBe(
      'attribute_not_exists(#shards) AND (attribute_not_exists(#max) OR #max >= :value) AND ' +
        '(attribute_not_exists(#min) OR #min <= :value)',
    );
    expect(input.UpdateExpression).toContain(
      '#room_above = if_not_exists(#max, :zero) - :value, #room_below = :value - if_not_exists(#min, :zero)',
    );
    expect(input.ReturnValues).toBe('ALL_NEW');
    expectEveryPlaceholderUsed(input);
    expect(counter).toMatchObject({ value: 42, op: 'set' });
  });

  it('sets, and removes, bounds with the value, the rooms to them computed by DynamoDB', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem({ value: 50, op: 'set', min: 0 }) });

    // Act
    const counter = await repository().set({ ...change(), value: 50, min: 0, max: null });

    // Assess
    const input = onlyUpdateInput();
    expect(input.UpdateExpression).toContain(
      '#room_above = :zero - :value, #min = :min, #room_below = :value - :min REMOVE #max',
    );
    // Only a min the set gives is checked against the value it gives, before any write (setBody).
    expect(input.ConditionExpression).toBe('attribute_not_exists(#shards)');
    expect(input.ExpressionAttributeValues).toMatchObject({ ':value': 50, ':min': 0 });
    expectEveryPlaceholderUsed(input);
    expect(counter).toMatchObject({ value: 50, min: 0 });
  });

  it('refuses with CounterOutOfBoundsError a set outside a bound it keeps, naming the bound', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed(counterItem({ value: 5, max: 10 })));

    // Act
    const changing = repository().set({ ...change(), value: 11 });

    // Assess
    await expect(changing).rejects.toMatchObject({
      name: 'CounterOutOfBoundsError',
      current: 5,
      attempted: 'setting 11',
      bound: { side: 'max', value: 10 },
    });
  });

  it('conditions the write on the If-Match version and maps a mismatch to VersionMismatchError', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed(counterItem({ version: 8 })));

    // Act
    const changing = repository().set({ ...change({ expectedVersion: 2 }), value: 1 });

    // Assess
    await expect(changing).rejects.toMatchObject({ name: 'VersionMismatchError', expected: 2, actual: 8 });
    const input = onlyUpdateInput();
    expect(input.ConditionExpression).toBe(
      'attribute_not_exists(#shards) AND #version = :expected AND (attribute_not_exists(#max) OR #max >= :value) AND ' +
        '(attribute_not_exists(#min) OR #min <= :value)',
    );
    expect(input.ExpressionAttributeValues?.[':expected']).toBe(2);
  });
});

describe('DynamoCounterRepository: writes that meet another transaction', () => {
  const conflict = () =>
    Object.assign(new Error('Transaction is ongoing for the item'), { name: 'TransactionConflictException' });

  it('tries an UpdateItem again after TransactionConflict, which wrote nothing', async () => {
    // Prepare: a sharded counter's If-Match transaction held the item for a moment
    ddbMock
      .on(UpdateCommand)
      .rejectsOnce(conflict())
      .resolves({ Attributes: counterItem({ value: 2, version: 2 }) });

    // Act
    const counter = await repository().increment({ ...change(), by: 1 });

    // Assess
    expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(2);
    expect(counter).toMatchObject({ value: 2, version: 2 });
  });

  it('gives up with CounterBusyError (503, not 429) when every try met another transaction', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conflict());

    // Act
    const changing = repository().increment({ ...change(), by: 1 });

    // Assess
    await expect(changing).rejects.toMatchObject({ name: 'CounterBusyError', counter: 'a' });
    expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(8);
  });
});

describe('DynamoCounterRepository: keyed changes (idempotency.ts)', () => {
  const attempt = {
    id: 'record-1',
    attempt: 'attempt-1',
    reach: async () => undefined,
    answer: () => ({ statusCode: 204, headers: {}, body: '' }),
  };

  it("writes a keyed increment as the same blind ADD, carrying the attempt's tag and fenced", async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem({ value: 5 }) });

    // Act
    await repository().increment({ ...change(), by: 5, attempt });

    // Assess
    const input = onlyUpdateInput();
    expect(input.UpdateExpression).toBe(
      'ADD #value :by, #version :one, #room_above :down, #room_below :by SET #created = if_not_exists(#created, :now), #updated = :now, ' +
        '#op = :op, #actor = :actor, #incarnation = if_not_exists(#incarnation, :incarnation), ' +
        '#kind = if_not_exists(#kind, :kind), #tag_id = :tag_id, #tag_attempt = :tag_attempt',
    );
    expect(input.ConditionExpression).toBe(
      'NOT contains(#fence, :attempt) AND attribute_not_exists(#shards) AND ' +
        '(attribute_not_exists(#value) OR #value <= :bound) AND (attribute_not_exists(#max) OR #room_above >= :room)',
    );
    expect(input.ExpressionAttributeNames).toMatchObject({
      '#fence': 'fence_record-1',
      '#tag_id': 'tag_id',
      '#tag_attempt': 'tag_attempt',
    });
    expect(input.ExpressionAttributeValues).toMatchObject({
      ':tag_id': 'record-1',
      ':tag_attempt': 'attempt-1',
      ':attempt': 'attempt-1',
    });
    expectEveryPlaceholderUsed(input);
  });

  it('deletes with the answer in one transaction, the record last and conditioned on the attempt holding it', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const keyed = new DynamoCounterRepository(client, { ...TABLES, idempotency: 'idempotency-table' });

    // Act
    await keyed.delete({ name: 'a', attempt });

    // Assess
    const items = ddbMock.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(ddbMock.calls()).toHaveLength(1);
    expect(items[0]?.Delete).toMatchObject({
      Key: { name: 'a' },
      ConditionExpression: 'attribute_not_exists(#shards) AND attribute_exists(#version)',
    });
    expect(items[1]?.Update).toMatchObject({
      TableName: 'idempotency-table',
      Key: { id: 'record-1' },
      ConditionExpression: '#owner = :owner AND #status = :in_flight',
    });
  });

  it('fences an attempt off each item with a probe the stream carries: a fresh nonce, an absent item created', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    await repository().fence(['a', 'a#1'], 'record-1', 'gone');

    // Assess
    const inputs = ddbMock.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    expect(inputs.map((input) => input.Key)).toEqual([{ name: 'a' }, { name: 'a#1' }]);
    for (const input of inputs) {
      expect(input).toMatchObject({
        TableName: 'counters-table',
        UpdateExpression: 'SET #probe = :probe ADD #fence :attempts',
        ExpressionAttributeNames: { '#probe': 'probe', '#fence': 'fence_record-1' },
        ExpressionAttributeValues: { ':attempts': new Set(['gone']) },
      });
      expect(input.ConditionExpression).toBeUndefined();
      expect(String(input.ExpressionAttributeValues?.[':probe'])).toMatch(/^record-1 gone [0-9a-f-]{36}$/);
    }
  });
});

describe('DynamoCounterRepository.delete', () => {
  it('deletes with one DeleteItem conditioned on a plain counter being there', async () => {
    // Prepare
    ddbMock.on(DeleteCommand).resolves({});

    // Act
    await repository().delete({ name: 'a' });

    // Assess
    const input = ddbMock.commandCalls(DeleteCommand)[0]?.args[0].input;
    expect(input).toEqual({
      TableName: 'counters-table',
      Key: { name: 'a' },
      // A sharded counter's item refuses: its shards go with it in a transaction instead.
      ConditionExpression: 'attribute_not_exists(#shards) AND attribute_exists(#version)',
      ExpressionAttributeNames: { '#shards': 'shards', '#version': 'version' },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('refuses with CounterNotFoundError when there was nothing to delete', async () => {
    // Prepare: an absent item fails attribute_exists and comes back without ALL_OLD
    ddbMock.on(DeleteCommand).rejects(conditionFailed(undefined));

    // Act
    const deleting = repository().delete({ name: 'a' });

    // Assess
    await expect(deleting).rejects.toMatchObject({ name: 'CounterNotFoundError', counter: 'a' });
  });

  it('conditions the delete on the If-Match version and maps a mismatch to VersionMismatchError', async () => {
    // Prepare
    ddbMock.on(DeleteCommand).rejects(conditionFailed(counterItem({ version: 5 })));

    // Act
    const deleting = repository().delete({ name: 'a', expectedVersion: 4 });

    // Assess
    await expect(deleting).rejects.toMatchObject({ name: 'VersionMismatchError', expected: 4, actual: 5 });
    const input = ddbMock.commandCalls(DeleteCommand)[0]?.args[0].input;
    expect(input?.ConditionExpression).toBe(
      'attribute_not_exists(#shards) AND #version = :expected AND attribute_exists(#version)',
    );
    expect(input?.ExpressionAttributeValues).toEqual({ ':expected': 4 });
  });
});

describe('DynamoCounterRepository.list', () => {
  function indexKeys(...names: string[]) {
    return names.map((name) => ({ kind: 'counter', name }));
  }

  it('queries the by-name index for one more than the limit and reads the page consistently', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: indexKeys('shop.a', 'shop.b', 'shop.c') });
    ddbMock.on(BatchGetCommand).resolves({
      Responses: { 'counters-table': [counterItem({ name: 'shop.b' }), counterItem({ name: 'shop.a' })] },
    });

    // Act
    const page = await repository().list({ prefix: 'shop.', limit: 2, after: 'shop.0' });

    // Assess
    const query = ddbMock.commandCalls(QueryCommand)[0]?.args[0].input;
    expect(query).toMatchObject({
      TableName: 'counters-table',
      IndexName: 'by-name',
      KeyConditionExpression: '#kind = :kind AND begins_with(#name, :prefix)',
      ExpressionAttributeValues: { ':kind': 'counter', ':prefix': 'shop.' },
      ExclusiveStartKey: { kind: 'counter', name: 'shop.0' },
      Limit: 3,
    });
    const batch = ddbMock.commandCalls(BatchGetCommand)[0]?.args[0].input;
    expect(batch?.RequestItems).toEqual({
      'counters-table': { Keys: [{ name: 'shop.a' }, { name: 'shop.b' }], ConsistentRead: true },
    });
    expect(page.items.map((counter) => counter.name)).toEqual(['shop.a', 'shop.b']);
    expect(page.hasMore).toBe(true);
  });

  it('queries the whole index without a key condition on the name when there is no prefix', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: indexKeys('a') });
    ddbMock.on(BatchGetCommand).resolves({ Responses: { 'counters-table': [counterItem({ name: 'a' })] } });

    // Act
    const page = await repository().list({ prefix: '', limit: 5 });

    // Assess
    const query = ddbMock.commandCalls(QueryCommand)[0]?.args[0].input;
    expect(query?.KeyConditionExpression).toBe('#kind = :kind');
    expect(query?.ExpressionAttributeValues).toEqual({ ':kind': 'counter' });
    expect(query?.ExclusiveStartKey).toBeUndefined();
    expect(page).toEqual({ items: [expect.objectContaining({ name: 'a' })], hasMore: false, lastName: 'a' });
  });

  it('retries the keys a BatchGet left unprocessed', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: indexKeys('a', 'b') });
    ddbMock
      .on(BatchGetCommand)
      .resolvesOnce({
        Responses: { 'counters-table': [counterItem({ name: 'a' })] },
        UnprocessedKeys: { 'counters-table': { Keys: [{ name: 'b' }] } },
      })
      .resolves({ Responses: { 'counters-table': [counterItem({ name: 'b' })] } });

    // Act
    const page = await repository().list({ prefix: '', limit: 10 });

    // Assess
    const batches = ddbMock.commandCalls(BatchGetCommand);
    expect(batches).toHaveLength(2);
    expect(batches[1]?.args[0].input.RequestItems).toEqual({
      'counters-table': { Keys: [{ name: 'b' }], ConsistentRead: true },
    });
    expect(page.items.map((counter) => counter.name)).toEqual(['a', 'b']);
  });

  it('leaves out a name the index still holds but the table no longer does', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: indexKeys('a', 'gone', 'c') });
    ddbMock.on(BatchGetCommand).resolves({
      Responses: { 'counters-table': [counterItem({ name: 'a' }), counterItem({ name: 'c' })] },
    });

    // Act
    const page = await repository().list({ prefix: '', limit: 10 });

    // Assess
    expect(page.items.map((counter) => counter.name)).toEqual(['a', 'c']);
  });

  // The by-name index is eventually consistent, so it may still list a counter that was just
  // deleted. A page made only of such names must not end the listing while counters remain after it.
  it('keeps the listing going past a page whose names were all deleted since the index saw them', async () => {
    // Prepare
    const index = ['a', 'b', 'c'];
    const table = new Map([
      ['a', counterItem({ name: 'a' })],
      ['c', counterItem({ name: 'c' })],
    ]);
    ddbMock.on(QueryCommand).callsFake((input: QueryCommandInput) => {
      const after = input.ExclusiveStartKey?.name;
      const names = index.filter((name) => after === undefined || name > String(after));
      return { Items: indexKeys(...names.slice(0, input.Limit)) };
    });
    ddbMock.on(BatchGetCommand).callsFake((input: BatchGetCommandInput) => {
      const keys = input.RequestItems?.['counters-table']?.Keys ?? [];
      return {
        Responses: { 'counters-table': keys.flatMap((key) => table.get(String(key.name)) ?? []) },
      };
    });
    const deps = { repository: repository(), now: () => '2025-01-01T00:00:00.000Z', newId: () => 'x' };
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;

    // Act
    do {
      const page = await listCounters(deps, { prefix: '', limit: 1, cursor });
      seen.push(...page.items.map((counter) => counter.name));
      cursor = page.cursor;
      pages++;
    } while (cursor !== undefined && pages < 10);

    // Assess
    expect(seen).toEqual(['a', 'c']);
  });

  it('reads nothing when the service refuses a garbage list cursor', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: [] });
    ddbMock.on(BatchGetCommand).resolves({});
    const deps = { repository: repository(), now: () => '2025-01-01T00:00:00.000Z', newId: () => 'x' };

    // Act
    const listing = listCounters(deps, { prefix: '', limit: 1, cursor: 'garbage!' });

    // Assess
    await expect(listing).rejects.toBeInstanceOf(InvalidCursorError);
    expect(ddbMock.calls()).toHaveLength(0);
  });
});

describe('DynamoCounterRepository history and series', () => {
  it('answers them from the history store over the tables it was given', async () => {
    // Prepare
    ddbMock.on(QueryCommand, { TableName: 'rollups-table' }).resolves({
      Items: [
        {
          series: 'a#inc-1#minute',
          start: '2025-01-01T00:00:00.000Z',
          last_version: 1,
          delta: 1,
          count: 1,
          value: 1,
        },
      ],
    });
    ddbMock.on(QueryCommand, { TableName: 'history-table' }).resolves({
      Items: [
        {
          counter: 'a#inc-1',
          version: 1,
          value: 1,
          delta: 1,
          op: 'increment',
          created_at: '2025-01-01T00:00:00.000Z',
          actor: 'arn:me',
        },
      ],
    });

    // Act
    const history = await repository().history({ name: 'a', incarnation: 'inc-1', limit: 10 });
    const series = await repository().series({
      name: 'a',
      incarnation: 'inc-1',
      interval: 'minute',
      limit: 10,
    });

    // Assess
    expect(history.items.map((entry) => entry.version)).toEqual([1]);
    expect(series.items).toEqual([{ start: '2025-01-01T00:00:00.000Z', delta: 1, count: 1, value: 1 }]);
  });
});
