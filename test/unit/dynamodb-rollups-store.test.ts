import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoRollupsStore } from '../../functions/counter/dynamodb-rollups-store.ts';
import { useDocumentClientMock } from '../support/document-client-mock.ts';

const { ddbMock, client } = useDocumentClientMock();
const store = new DynamoRollupsStore(client, { rollups: 'rollups-table' });

describe('DynamoRollupsStore.rollUp', () => {
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
      TableName: 'rollups-table',
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

describe('DynamoRollupsStore.series', () => {
  const bucket = (start: string) => ({
    series: 'a#inc-1#hour',
    start,
    delta: 2,
    count: 1,
    value: 2,
    last_version: 1,
  });

  it('queries the series key alone when there are no bounds, declaring only the names it uses', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: [bucket('2026-11-30T10:00:00.000Z')] });

    // Act
    const page = await store.series({ name: 'a', incarnation: 'inc-1', interval: 'hour', limit: 10 });

    // Assess
    const query = ddbMock.commandCalls(QueryCommand)[0]?.args[0].input;
    expect(query).toMatchObject({
      TableName: 'rollups-table',
      KeyConditionExpression: '#series = :series',
      ExpressionAttributeNames: { '#series': 'series' },
      ExpressionAttributeValues: { ':series': 'a#inc-1#hour' },
      Limit: 11,
    });
    expect(page.items).toEqual([{ start: '2026-11-30T10:00:00.000Z', delta: 2, count: 1, value: 2 }]);
  });

  it('bounds the buckets from the bucket holding since to the last one starting before until', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: [] });

    // Act
    await store.series({
      name: 'a',
      incarnation: 'inc-1',
      interval: 'hour',
      limit: 10,
      since: '2026-11-30T10:30:00.000Z',
      until: '2026-11-30T12:00:00.000Z',
    });

    // Assess
    expect(ddbMock.commandCalls(QueryCommand)[0]?.args[0].input).toMatchObject({
      KeyConditionExpression: '#series = :series AND #start BETWEEN :lower AND :upper',
      ExpressionAttributeNames: { '#series': 'series', '#start': 'start' },
      ExpressionAttributeValues: {
        ':lower': '2026-11-30T10:00:00.000Z',
        ':upper': '2026-11-30T11:59:59.999Z',
      },
    });
  });
});

describe('DynamoRollupsStore.series after a cursor', () => {
  const query = () => ddbMock.commandCalls(QueryCommand)[0]?.args[0].input;

  it('continues at the next bucket with a key condition, never a filter on the key', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: [] });

    // Act
    await store.series({
      name: 'a',
      incarnation: 'inc-1',
      interval: 'hour',
      limit: 1,
      afterStart: '2026-11-30T10:00:00.000Z',
    });

    // Assess
    expect(query()).toEqual({
      TableName: 'rollups-table',
      KeyConditionExpression: '#series = :series AND #start >= :lower',
      ExpressionAttributeNames: { '#series': 'series', '#start': 'start' },
      ExpressionAttributeValues: { ':series': 'a#inc-1#hour', ':lower': '2026-11-30T11:00:00.000Z' },
      Limit: 2,
    });
  });

  it.each([
    ['minute', '2026-11-30T23:59:00.000Z', '2026-12-01T00:00:00.000Z'],
    ['day', '2026-12-31T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
  ] as const)(
    'steps a %s cursor to the next bucket across a boundary',
    async (interval, afterStart, next) => {
      // Prepare
      ddbMock.on(QueryCommand).resolves({ Items: [] });

      // Act
      await store.series({ name: 'a', incarnation: 'inc-1', interval, limit: 5, afterStart });

      // Assess
      expect(query()?.ExpressionAttributeValues?.[':lower']).toBe(next);
    },
  );

  it('keeps both the cursor and the window in one BETWEEN, the later lower bound winning', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: [] });

    // Act
    await store.series({
      name: 'a',
      incarnation: 'inc-1',
      interval: 'minute',
      limit: 5,
      afterStart: '2026-11-30T10:00:00.000Z',
      since: '2026-11-30T10:30:10.000Z',
      until: '2026-11-30T12:00:00.000Z',
    });

    // Assess
    expect(query()).toMatchObject({
      KeyConditionExpression: '#series = :series AND #start BETWEEN :lower AND :upper',
      ExpressionAttributeValues: {
        ':lower': '2026-11-30T10:30:00.000Z',
        ':upper': '2026-11-30T11:59:59.999Z',
      },
    });
    expect(query()).not.toHaveProperty('FilterExpression');
  });

  it.each([
    [
      'the cursor has reached until',
      { afterStart: '2026-11-30T11:00:00.000Z', until: '2026-11-30T12:00:00.000Z' },
    ],
    [
      'the cursor is past until',
      { afterStart: '2027-01-01T00:00:00.000Z', until: '2026-11-30T12:00:00.000Z' },
    ],
    ['the cursor is the last bucket ISO time can write', { afterStart: '9999-12-31T23:00:00.000Z' }],
    ['until is the first instant ISO time can write', { until: '0000-01-01T00:00:00.000Z' }],
  ])('reads nothing when %s', async (_what, bounds) => {
    // Act
    const page = await store.series({
      name: 'a',
      incarnation: 'inc-1',
      interval: 'hour',
      limit: 5,
      ...bounds,
    });

    // Assess
    expect(page).toEqual({ items: [], hasMore: false });
    expect(ddbMock.commandCalls(QueryCommand)).toHaveLength(0);
  });
});
