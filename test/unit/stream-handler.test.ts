import type { Logger } from '@aws-lambda-powertools/logger';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DynamoDBDocumentClient,
  PutCommand,
  type PutCommandInput,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { AttributeValue, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StoredCounter } from '../../functions/counter/schema.ts';
import { counterItem } from '../support/counter-items.ts';
import { conditionFailed } from '../support/dynamodb-answers.ts';

const HISTORY_TABLE = 'history-table-stream';
const IDEMPOTENCY_TABLE = 'idempotency-table-stream';
const ddbMock = mockClient(DynamoDBDocumentClient);
let handler: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>;
let logger: Logger;

beforeAll(async () => {
  vi.stubEnv('HISTORY_TABLE', HISTORY_TABLE);
  vi.stubEnv('ROLLUPS_TABLE', 'rollups-table');
  vi.stubEnv('IDEMPOTENCY_TABLE', IDEMPOTENCY_TABLE);
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  ({ handler, logger } = await import('../../functions/stream/record-history.ts'));
});

afterAll(() => {
  vi.unstubAllEnvs();
});

beforeEach(() => {
  ddbMock.reset();
});

/** DynamoDB JSON, as Lambda delivers stream images (counter items hold only strings and numbers). */
function wire(item: Record<string, string | number>): Record<string, AttributeValue> {
  return Object.fromEntries(
    Object.entries(item).map(([name, value]) => [
      name,
      typeof value === 'number' ? { N: String(value) } : { S: value },
    ]),
  );
}

function streamRecord(
  sequence: string,
  oldImage?: Record<string, string | number>,
  newImage?: Record<string, string | number>,
): DynamoDBRecord {
  const name = String(newImage?.name ?? oldImage?.name);
  return {
    eventID: `event-${sequence}`,
    eventName: oldImage === undefined ? 'INSERT' : newImage === undefined ? 'REMOVE' : 'MODIFY',
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'us-east-1',
    eventSourceARN: 'arn:aws:dynamodb:us-east-1:123456789012:table/counters/stream/2025-01-01T00:00:00.000',
    dynamodb: {
      ApproximateCreationDateTime: 1735689600,
      Keys: { name: { S: name } },
      SequenceNumber: sequence,
      SizeBytes: 200,
      StreamViewType: 'NEW_AND_OLD_IMAGES',
      ...(oldImage === undefined ? {} : { OldImage: wire(oldImage) }),
      ...(newImage === undefined ? {} : { NewImage: wire(newImage) }),
    },
  };
}

function version(value: number, number: number, overrides: Partial<StoredCounter> = {}) {
  return counterItem({ value, version: number, ...overrides });
}

/** Three changes of counter `a`: +1, +2, set to 10. */
function threeChanges(): DynamoDBRecord[] {
  return [
    streamRecord('100', undefined, version(1, 1)),
    streamRecord('200', version(1, 1), version(3, 2)),
    streamRecord('300', version(3, 2), version(10, 3, { op: 'set' })),
  ];
}

function putItems(): unknown[] {
  return ddbMock.commandCalls(PutCommand).map((call) => call.args[0].input.Item);
}

describe('the history stream handler', () => {
  it('writes one conditional put per change, with the delta from the old image', async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});

    // Act
    const response = await handler({ Records: threeChanges() });

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    const entry = { created_at: '2025-01-01T00:00:00.000Z', actor: 'arn:aws:iam::000000000000:user/tester' };
    expect(putItems()).toEqual([
      { counter: 'a#inc-1', version: 1, value: 1, delta: 1, op: 'increment', ...entry },
      { counter: 'a#inc-1', version: 2, value: 3, delta: 2, op: 'increment', ...entry },
      { counter: 'a#inc-1', version: 3, value: 10, delta: 7, op: 'set', ...entry },
    ]);
    for (const call of ddbMock.commandCalls(PutCommand)) {
      expect(call.args[0].input).toMatchObject({
        TableName: HISTORY_TABLE,
        ConditionExpression: 'attribute_not_exists(#version)',
      });
    }
  });

  it("names the 2nd record's sequence number when its put fails", async () => {
    // Prepare
    ddbMock.on(PutCommand).callsFake(async (input: PutCommandInput) => {
      if (input.Item?.version === 2) throw new Error('InternalServerError');
      return {};
    });

    // Act
    const response = await handler({ Records: threeChanges() });

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: '200' }] });
  });

  it('does not count an entry already recorded (a replayed batch) as a failure', async () => {
    // Prepare
    ddbMock
      .on(PutCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
      );

    // Act
    const response = await handler({ Records: threeChanges() });

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(ddbMock.commandCalls(PutCommand)).toHaveLength(3);
  });

  it("purges the removed incarnation's history after writing the changes before it", async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});
    ddbMock.on(QueryCommand).resolves({
      Items: [
        { counter: 'a#inc-1', version: 1 },
        { counter: 'a#inc-1', version: 2 },
      ],
    });
    ddbMock.on(BatchWriteCommand).resolves({});
    const records = [
      streamRecord('100', undefined, version(1, 1)),
      streamRecord('200', version(1, 1), version(2, 2)),
      streamRecord('300', version(2, 2), undefined),
      streamRecord('400', undefined, version(5, 1, { incarnation: 'inc-2' })),
    ];

    // Act
    const response = await handler({ Records: records });

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    // The removed incarnation's entries and rollups are written before its purge reads what to delete;
    // the next incarnation is another counter and goes its own way.
    const calls = ddbMock.calls().map((call) => ({
      command: call.args[0].constructor.name,
      input: JSON.stringify(call.args[0].input),
    }));
    const firstPurgeRead = calls.findIndex((call) => call.command === 'QueryCommand');
    const oldIncarnationWrites = calls
      .map((call, index) => ({ ...call, index }))
      .filter(
        (call) => ['PutCommand', 'UpdateCommand'].includes(call.command) && call.input.includes('a#inc-1'),
      );
    expect(oldIncarnationWrites).toHaveLength(2 + 3);
    expect(Math.max(...oldIncarnationWrites.map((call) => call.index))).toBeLessThan(firstPurgeRead);
    expect(ddbMock.commandCalls(QueryCommand)[0]?.args[0].input.ExpressionAttributeValues).toEqual({
      ':pk': 'a#inc-1',
    });
    expect(ddbMock.commandCalls(BatchWriteCommand).length).toBeGreaterThan(0);
    expect(putItems()).toContainEqual(expect.objectContaining({ counter: 'a#inc-2', version: 1, delta: 5 }));
  });

  it('names a record whose image is not a counter, after writing the records before it', async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});
    const malformed = streamRecord('200', undefined, { name: 'b', value: 'many' });
    const records = [
      streamRecord('100', undefined, version(1, 1)),
      malformed,
      streamRecord('300', undefined, version(1, 1, { name: 'c' })),
    ];

    // Act
    const response = await handler({ Records: records });

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: '200' }] });
    expect(putItems()).toEqual([expect.objectContaining({ counter: 'a#inc-1', version: 1 })]);
  });

  it('logs a batch stopped by throttling as a warning, and one stopped by anything else as an error', async () => {
    // Prepare
    const warn = vi.spyOn(logger, 'warn');
    const error = vi.spyOn(logger, 'error');
    const throttled = Object.assign(new Error('Throughput exceeds the current capacity'), {
      name: 'ProvisionedThroughputExceededException',
    });
    ddbMock.on(PutCommand).rejectsOnce(throttled).rejectsOnce(new Error('socket hang up'));

    // Act
    const first = await handler({ Records: [streamRecord('100', undefined, version(1, 1))] });
    const second = await handler({ Records: [streamRecord('100', undefined, version(1, 1))] });

    // Assess: both batches stop at the record and are retried; only the second is an error to look at.
    expect(first).toEqual({ batchItemFailures: [{ itemIdentifier: '100' }] });
    expect(second).toEqual({ batchItemFailures: [{ itemIdentifier: '100' }] });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(error).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[0]).toBe('history batch stopped at a record');
    warn.mockRestore();
    error.mockRestore();
  });

  it("marks a keyed change's record applied, with the counter it made, before writing its history", async () => {
    // Prepare: a plain counter's keyed write, whose answer the record takes from the stream
    ddbMock.on(UpdateCommand).resolves({});
    ddbMock.on(PutCommand).resolves({});
    const tagged = { ...version(1, 1), tag_id: 'record-1', tag_attempt: 'attempt-1' };

    // Act
    const response = await handler({ Records: [streamRecord('100', undefined, tagged)] });

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    const calls = ddbMock.calls().map((call) => call.args[0].constructor.name);
    expect(calls.indexOf('UpdateCommand')).toBeLessThan(calls.indexOf('PutCommand'));
    const marked = ddbMock.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(marked).toMatchObject({
      TableName: IDEMPOTENCY_TABLE,
      Key: { id: 'record-1' },
      ConditionExpression: '#owner = :owner AND #status = :in_flight',
      ExpressionAttributeValues: expect.objectContaining({ ':owner': 'attempt-1', ':applied': 'applied' }),
    });
    expect(marked?.ExpressionAttributeValues?.[':counter']).toMatchObject({
      name: 'a',
      value: 1,
      version: 1,
    });
  });

  it('marks a record whatever state it is in, the condition deciding: a done record is left as it was', async () => {
    // Prepare: the record is done (the function stored a sharded counter's answer itself)
    ddbMock.on(UpdateCommand, { TableName: IDEMPOTENCY_TABLE }).rejects(conditionFailed());
    ddbMock.on(PutCommand).resolves({});
    const tagged = { ...version(1, 1), tag_id: 'record-1', tag_attempt: 'attempt-1' };

    // Act
    const response = await handler({ Records: [streamRecord('100', undefined, tagged)] });

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(ddbMock.commandCalls(BatchGetCommand)).toEqual([]);
  });

  it('stops at a keyed change whose record could not be marked, after the history of the records before it', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});
    ddbMock.on(UpdateCommand, { TableName: IDEMPOTENCY_TABLE }).rejects(new Error('socket hang up'));
    ddbMock.on(PutCommand).resolves({});
    const records = [
      streamRecord('100', undefined, version(1, 1)),
      streamRecord('200', version(1, 1), { ...version(2, 2), tag_id: 'record-1', tag_attempt: 'attempt-1' }),
    ];

    // Act
    const response = await handler({ Records: records });

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: '200' }] });
    expect(putItems()).toEqual([expect.objectContaining({ counter: 'a#inc-1', version: 1 })]);
  });
});
