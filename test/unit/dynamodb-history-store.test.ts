import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  type BatchWriteCommandInput,
  DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoHistoryStore } from '../../functions/counter/dynamodb-history-store.ts';
import type { HistoryEntry } from '../../functions/counter/schema.ts';

const TABLE = 'history-table';
const ROLLUPS = 'rollups-table';
const ddbMock = mockClient(DynamoDBDocumentClient);
const store = new DynamoHistoryStore(
  DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
  {
    history: TABLE,
    rollups: ROLLUPS,
  },
);

const ENTRY: HistoryEntry = {
  version: 3,
  value: 10,
  delta: 2,
  op: 'increment',
  created_at: '2025-01-01T00:00:00.000Z',
  actor: 'arn:me',
};

function keys(from: number, count: number) {
  return Array.from({ length: count }, (_, i) => ({ counter: 'a#inc-1', version: from + i }));
}

function deletedKeys(input: BatchWriteCommandInput | undefined): unknown[] {
  return (input?.RequestItems?.[TABLE] ?? []).map((request) => request.DeleteRequest?.Key);
}

beforeEach(() => {
  ddbMock.reset();
});

describe('DynamoHistoryStore.record', () => {
  it('puts the entry under its key only if that version is not there yet', async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});

    // Act
    const result = await store.record('a#inc-1', ENTRY);

    // Assess
    expect(result).toBe('written');
    expect(ddbMock.commandCalls(PutCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      Item: { counter: 'a#inc-1', ...ENTRY },
      ConditionExpression: 'attribute_not_exists(#version)',
      ExpressionAttributeNames: { '#version': 'version' },
    });
  });

  it("answers 'duplicate' when the version is already recorded", async () => {
    // Prepare
    ddbMock
      .on(PutCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
      );

    // Act
    const result = await store.record('a#inc-1', ENTRY);

    // Assess
    expect(result).toBe('duplicate');
  });

  it('passes any other failure on, so the batch is retried', async () => {
    // Prepare
    const failure = new Error('service unavailable');
    ddbMock.on(PutCommand).rejects(failure);

    // Act
    const recording = store.record('a#inc-1', ENTRY);

    // Assess
    await expect(recording).rejects.toBe(failure);
  });
});

describe('DynamoHistoryStore.purge', () => {
  it('reads every page of the key and deletes in BatchWrites of at most 25', async () => {
    // Prepare
    ddbMock
      .on(QueryCommand, { TableName: TABLE })
      .resolvesOnce({ Items: keys(1, 30), LastEvaluatedKey: { counter: 'a#inc-1', version: 30 } })
      .resolvesOnce({ Items: keys(31, 7) });
    ddbMock.on(QueryCommand, { TableName: ROLLUPS }).resolves({ Items: [] });
    ddbMock.on(BatchWriteCommand).resolves({});

    // Act
    const removed = await store.purge('a#inc-1');

    // Assess
    expect(removed).toBe(37);
    const queries = ddbMock
      .commandCalls(QueryCommand)
      .map((call) => call.args[0].input)
      .filter((input) => input.TableName === TABLE);
    expect(queries).toHaveLength(2);
    expect(queries[0]).toMatchObject({
      TableName: TABLE,
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': 'counter', '#sk': 'version' },
      ExpressionAttributeValues: { ':pk': 'a#inc-1' },
    });
    expect(queries[0]?.ExclusiveStartKey).toBeUndefined();
    expect(queries[1]?.ExclusiveStartKey).toEqual({ counter: 'a#inc-1', version: 30 });
    const batches = ddbMock.commandCalls(BatchWriteCommand).map((call) => deletedKeys(call.args[0].input));
    expect(batches.map((batch) => batch.length)).toEqual([25, 5, 7]);
    expect(batches.flat()).toEqual(keys(1, 37));
  });

  it('sends no BatchWrite when the key has no entries', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: [] });

    // Act
    const removed = await store.purge('a#inc-1');

    // Assess
    expect(removed).toBe(0);
    expect(ddbMock.commandCalls(BatchWriteCommand)).toHaveLength(0);
  });

  it('retries the deletions a BatchWrite left unprocessed until none remain', async () => {
    // Prepare
    ddbMock.on(QueryCommand, { TableName: TABLE }).resolves({ Items: keys(1, 3) });
    ddbMock.on(QueryCommand, { TableName: ROLLUPS }).resolves({ Items: [] });
    const leftOver = { [TABLE]: [{ DeleteRequest: { Key: { counter: 'a#inc-1', version: 2 } } }] };
    ddbMock
      .on(BatchWriteCommand)
      .resolvesOnce({ UnprocessedItems: leftOver })
      .resolvesOnce({ UnprocessedItems: leftOver })
      .resolves({});

    // Act
    await store.purge('a#inc-1');

    // Assess
    const batches = ddbMock.commandCalls(BatchWriteCommand).map((call) => deletedKeys(call.args[0].input));
    expect(batches).toEqual([
      keys(1, 3),
      [{ counter: 'a#inc-1', version: 2 }],
      [{ counter: 'a#inc-1', version: 2 }],
    ]);
  });

  // The consumer purges right after writing the entries that preceded the deletion in the same batch.
  // An eventually consistent query may not see those writes yet, and nothing would delete them later:
  // they would stay in the table for good, against "deleting a counter deletes its history too".
  it('reads the entries to delete with a strongly consistent query', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: keys(1, 1) });
    ddbMock.on(BatchWriteCommand).resolves({});

    // Act
    await store.purge('a#inc-1');

    // Assess
    expect(ddbMock.commandCalls(QueryCommand)[0]?.args[0].input.ConsistentRead).toBe(true);
  });

  it('purges the rollups of every interval with the history', async () => {
    // Prepare
    ddbMock.on(QueryCommand, { TableName: TABLE }).resolves({ Items: [] });
    ddbMock.on(QueryCommand, { TableName: ROLLUPS }).resolves({ Items: [{ series: 'x', start: 'y' }] });
    ddbMock.on(BatchWriteCommand).resolves({});

    // Act
    await store.purge('a#inc-1');

    // Assess
    const series = ddbMock
      .commandCalls(QueryCommand)
      .map((call) => call.args[0].input)
      .filter((input) => input.TableName === ROLLUPS)
      .map((input) => input.ExpressionAttributeValues?.[':pk']);
    expect(series).toEqual(['a#inc-1#minute', 'a#inc-1#hour', 'a#inc-1#day']);
    expect(ddbMock.commandCalls(BatchWriteCommand)).toHaveLength(3);
  });
});

describe('DynamoHistoryStore.rollUp', () => {
  const CHANGES = [
    { version: 4, delta: 2, value: 12 },
    { version: 5, delta: -1, value: 11 },
    { version: 6, delta: 5, value: 16 },
  ];

  beforeEach(() => {
    ddbMock.reset();
  });

  it('adds a batch of changes to a bucket in one update, conditioned on the versions it absorbed', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    await store.rollUp('a#inc-1', 'hour', '2026-11-30T10:00:00.000Z', CHANGES);

    // Assess
    const updates = ddbMock.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatchObject({
      TableName: ROLLUPS,
      Key: { series: 'a#inc-1#hour', start: '2026-11-30T10:00:00.000Z' },
      UpdateExpression:
        'ADD #delta :delta, #count :count SET #value = :value, #last = :last, #first = if_not_exists(#first, :first)',
      ConditionExpression: 'attribute_not_exists(#last) OR #last < :first',
      ExpressionAttributeValues: { ':delta': 6, ':count': 3, ':value': 16, ':last': 6, ':first': 4 },
    });
  });

  it('on a replay adds only the changes after the last version the bucket absorbed', async () => {
    // Prepare
    ddbMock
      .on(UpdateCommand)
      .rejectsOnce(
        new ConditionalCheckFailedException({
          message: 'no',
          $metadata: {},
          Item: { last_version: { N: '4' } },
        }),
      )
      .resolves({});

    // Act
    await store.rollUp('a#inc-1', 'hour', '2026-11-30T10:00:00.000Z', CHANGES);

    // Assess
    const updates = ddbMock.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    expect(updates).toHaveLength(2);
    expect(updates[1]?.ExpressionAttributeValues).toMatchObject({
      ':delta': 4,
      ':count': 2,
      ':value': 16,
      ':first': 5,
    });
  });

  it('does nothing more when the bucket already absorbed every change of the batch', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'no',
        $metadata: {},
        Item: { last_version: { N: '6' } },
      }),
    );

    // Act
    await store.rollUp('a#inc-1', 'hour', '2026-11-30T10:00:00.000Z', CHANGES);

    // Assess
    expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(1);
  });
});
