import type { Logger } from '@aws-lambda-powertools/logger';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  PutCommand,
  type PutCommandInput,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { AttributeValue, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ChangeEvent, ChangePublisher, PublishOutcome } from '../../functions/counter/change-events.ts';
import type { HistoryStore } from '../../functions/counter/history-store.ts';
import type { WitnessStore } from '../../functions/counter/keyed-witness.ts';
import type { StoredCounter } from '../../functions/counter/schema.ts';
import { counterItem } from '../support/counter-items.ts';
import { useDocumentClientMock } from '../support/document-client-mock.ts';
import { conditionFailed } from '../support/dynamodb-answers.ts';
import { InMemoryHistoryStore } from '../support/in-memory-repository.ts';

// functions/stream/record-history.ts: the history stream consumer, over a mocked document client.

const HISTORY_TABLE = 'history-table-stream';
const IDEMPOTENCY_TABLE = 'idempotency-table-stream';
const { ddbMock } = useDocumentClientMock();
let handler: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>;
let consumer: typeof import('../../functions/stream/record-history.ts').consumer;
let logger: Logger;

beforeAll(async () => {
  vi.stubEnv('HISTORY_TABLE', HISTORY_TABLE);
  vi.stubEnv('ROLLUPS_TABLE', 'rollups-table');
  vi.stubEnv('IDEMPOTENCY_TABLE', IDEMPOTENCY_TABLE);
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  ({ handler, consumer } = await import('../../functions/stream/record-history.ts'));
  // The service's one logger, as the consumer logs through it (created once the level is set).
  ({ logger } = await import('../../functions/platform/logger.ts'));
});

afterAll(() => {
  vi.unstubAllEnvs();
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

/** A publisher that keeps what it is given, and fails at the event `failAt` says (once, or every time). */
class FakePublisher implements ChangePublisher {
  readonly published: ChangeEvent[] = [];
  /** What the history held when each publish began: events go out only after their entries are written. */
  readonly historyAtPublish: number[] = [];
  constructor(
    private readonly store: InMemoryHistoryStore,
    private failAt?: (event: ChangeEvent) => boolean,
  ) {}

  async publish(events: readonly ChangeEvent[]): Promise<PublishOutcome> {
    this.historyAtPublish.push(Object.values(this.store.snapshot()).flat().length);
    const failedIndex = this.failAt === undefined ? -1 : events.findIndex(this.failAt);
    if (failedIndex === -1) {
      this.published.push(...events);
      return {};
    }
    this.failAt = undefined;
    // At least once: some events after the failed one went out too.
    this.published.push(...events.slice(0, failedIndex), ...events.slice(failedIndex + 1));
    return { failedIndex, error: new Error('EventBridge unavailable') };
  }
}

const NO_KEYED_CHANGES: WitnessStore = { witnessed: async () => undefined, probed: async () => undefined };

/** Each event as [name, version or 'deleted']. */
function published(publisher: FakePublisher) {
  return publisher.published.map((event) => [
    event.detail.name,
    event.detailType === 'Counter Changed' ? event.detail.version : 'deleted',
  ]);
}

function shardRecord(
  sequence: string,
  shard: number,
  from: number,
  to: number,
  value: number,
): DynamoDBRecord {
  const item = (v: number, at: number) => ({
    name: `hot#${shard}`,
    counter: 'hot',
    shard,
    value: at,
    version: v,
    updated_at: '2025-01-01T00:00:01.000Z',
    incarnation: 'inc-hot',
    op: 'increment',
    actor: 'arn:aws:iam::000000000000:user/tester',
  });
  return streamRecord(sequence, item(from, value - 1), item(to, value));
}

describe('the history stream handler with change events', () => {
  it('publishes one event per change after the batch’s history is written, and one for a deletion', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();
    const publisher = new FakePublisher(store);
    const records = [
      ...threeChanges(),
      streamRecord('400', version(10, 3, { op: 'set' }), undefined),
      streamRecord('500', undefined, version(1, 1, { name: 'b' })),
    ];

    // Act
    const response = await consumer(publisher, { history: store, records: NO_KEYED_CHANGES })({
      Records: records,
    });

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(published(publisher)).toEqual([
      ['a', 1],
      ['a', 2],
      ['a', 3],
      ['a', 'deleted'],
      ['b', 1],
    ]);
    // Published once, when b's entry was written and a's purged.
    expect(publisher.historyAtPublish).toEqual([1]);
    expect(publisher.published[2]?.detail).toMatchObject({
      value: 10,
      previous_value: 3,
      delta: 7,
      op: 'set',
    });
    expect(publisher.published[3]).toMatchObject({
      detailType: 'Counter Deleted',
      time: '2025-01-01T00:00:00.000Z',
      detail: { name: 'a', incarnation: 'inc-1', op: 'delete' },
    });
  });

  it('reports the record whose event was not published; delivered again from it, history is written once and its events published again', async () => {
    // Prepare: the event of the 2nd change fails once.
    const store = new InMemoryHistoryStore();
    const publisher = new FakePublisher(
      store,
      (event) => event.detailType === 'Counter Changed' && event.detail.version === 2,
    );
    const handle = consumer(publisher, { history: store, records: NO_KEYED_CHANGES });

    // Act
    const first = await handle({ Records: threeChanges() });
    const again = await handle({ Records: threeChanges().slice(1) });

    // Assess
    expect(first).toEqual({ batchItemFailures: [{ itemIdentifier: '200' }] });
    expect(again).toEqual({ batchItemFailures: [] });
    expect(store.snapshot()['a#inc-1']?.map((entry) => entry.version)).toEqual([1, 2, 3]);
    // At least once: 3 went out in the failed attempt and again in the retry; 2 once, in the retry.
    expect(published(publisher)).toEqual([
      ['a', 1],
      ['a', 3],
      ['a', 2],
      ['a', 3],
    ]);
  });

  it('publishes no event of a change whose history failed, nor of any change after it', async () => {
    // Prepare: b's second entry cannot be written; c, after it in the batch, is written but held back.
    const inner = new InMemoryHistoryStore();
    const store: HistoryStore = {
      record: (key, entry) =>
        key === 'b#inc-1' && entry.version === 2
          ? Promise.reject(new Error('unavailable'))
          : inner.record(key, entry),
      rollUp: (...args) => inner.rollUp(...args),
      sequence: (...args) => inner.sequence(...args),
      purge: (...args) => inner.purge(...args),
    };
    const publisher = new FakePublisher(inner);
    const records = [
      streamRecord('100', undefined, version(1, 1)),
      streamRecord('200', undefined, version(1, 1, { name: 'b' })),
      streamRecord('300', version(1, 1, { name: 'b' }), version(2, 2, { name: 'b' })),
      streamRecord('400', undefined, version(1, 1, { name: 'c' })),
    ];

    // Act
    const response = await consumer(publisher, { history: store, records: NO_KEYED_CHANGES })({
      Records: records,
    });

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: '300' }] });
    expect(published(publisher)).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
  });

  it('publishes no event of a keyed change whose record could not be marked, nor of any change after it', async () => {
    // Prepare
    const store = new InMemoryHistoryStore();
    const publisher = new FakePublisher(store);
    const records: WitnessStore = {
      witnessed: () => Promise.reject(new Error('socket hang up')),
      probed: async () => undefined,
    };
    const batch = [
      streamRecord('100', undefined, version(1, 1)),
      streamRecord('200', version(1, 1), { ...version(2, 2), tag_id: 'record-1', tag_attempt: 'attempt-1' }),
    ];

    // Act
    const response = await consumer(publisher, { history: store, records })({ Records: batch });

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: '200' }] });
    expect(published(publisher)).toEqual([['a', 1]]);
  });

  it('publishes a sharded counter’s changes with the versions the sequencer gave, the same when delivered again', async () => {
    // Prepare: created with 3 shards at 10, then +1 on shard 2, +1 on shard 1; the event of the last fails once.
    const store = new InMemoryHistoryStore();
    const publisher = new FakePublisher(
      store,
      (event) => event.detailType === 'Counter Changed' && event.detail.version === 3,
    );
    const handle = consumer(publisher, { history: store, records: NO_KEYED_CHANGES });
    const batch = [
      streamRecord(
        '100',
        undefined,
        version(10, 1, { name: 'hot', incarnation: 'inc-hot', op: 'set', shards: 3 }),
      ),
      shardRecord('200', 2, 0, 1, 1),
      shardRecord('300', 1, 0, 1, 1),
    ];

    // Act
    const first = await handle({ Records: batch });
    const again = await handle({ Records: batch.slice(2) });

    // Assess
    expect(first).toEqual({ batchItemFailures: [{ itemIdentifier: '300' }] });
    expect(again).toEqual({ batchItemFailures: [] });
    expect(published(publisher)).toEqual([
      ['hot', 1],
      ['hot', 2],
      ['hot', 3],
    ]);
    expect(publisher.published[2]?.detail).toMatchObject({ version: 3, value: 12, previous_value: 11 });
  });
});
