import {
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamRecord,
  TrimmedDataAccessException,
} from '@aws-sdk/client-dynamodb-streams';
import { InvokeCommand, LambdaClient, TooManyRequestsException } from '@aws-sdk/client-lambda';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { Uint8ArrayBlobAdapter } from '@smithy/core/serde';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { replayQueue } from '../../scripts/dead-letters/replay-queue.ts';
import { main, parseSettings } from '../../scripts/replay-dead-letters.ts';

const sqsMock = mockClient(SQSClient);
const streamsMock = mockClient(DynamoDBStreamsClient);
const lambdaMock = mockClient(LambdaClient);
const clients = {
  sqs: new SQSClient({ region: 'eu-west-1' }),
  streams: new DynamoDBStreamsClient({ region: 'eu-west-1' }),
  lambda: new LambdaClient({ region: 'eu-west-1' }),
};

const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/111111111111/CounterService-HistoryDeadLetterQueue';
const FUNCTION = 'CounterService-HistoryConsumerFunction-abc';
const STREAM_ARN = 'arn:aws:dynamodb:eu-west-1:111111111111:table/counters/stream/2026-01-01T00:00:00.000';
const SHARD = 'shardId-00000001700000000000-abcdef01';

/** A stream record of the counter `page-views` at `version`, with sequence number `sequence`. */
function record(sequence: string, version: number): StreamRecord {
  return {
    eventID: `event-${sequence}`,
    eventName: version === 1 ? 'INSERT' : 'MODIFY',
    dynamodb: {
      SequenceNumber: sequence,
      ApproximateCreationDateTime: new Date('2026-01-01T00:00:05Z'),
      Keys: { name: { S: 'page-views' } },
      NewImage: { name: { S: 'page-views' }, value: { N: String(version) }, version: { N: String(version) } },
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    },
  };
}

/** Lambda's on-failure record for a batch from `start` to `end`. */
function deadLetter(id: string, start: string, end: string, batchSize = 3): Message {
  return {
    MessageId: id,
    ReceiptHandle: `receipt-${id}`,
    Body: JSON.stringify({
      requestContext: { condition: 'RecordAgeExceeded', approximateInvokeCount: 812, functionArn: FUNCTION },
      timestamp: '2026-01-01T06:00:10.000Z',
      DDBStreamBatchInfo: {
        shardId: SHARD,
        startSequenceNumber: start,
        endSequenceNumber: end,
        approximateArrivalOfFirstRecord: '2026-01-01T00:00:05Z',
        approximateArrivalOfLastRecord: '2026-01-01T00:00:05Z',
        batchSize,
        streamArn: STREAM_ARN,
      },
    }),
  };
}

function answer(body: unknown, functionError?: string) {
  return {
    StatusCode: 200,
    Payload: Uint8ArrayBlobAdapter.fromString(JSON.stringify(body)),
    ...(functionError === undefined ? {} : { FunctionError: functionError }),
  };
}

function invokedEvents(): DynamoDBStreamEvent[] {
  return lambdaMock.commandCalls(InvokeCommand).map((call) => {
    const payload = call.args[0].input.Payload;
    return JSON.parse(new TextDecoder().decode(payload instanceof Uint8Array ? payload : undefined));
  });
}

const deleted = () =>
  sqsMock.commandCalls(DeleteMessageCommand).map((call) => call.args[0].input.ReceiptHandle);
const madeVisible = () =>
  sqsMock
    .commandCalls(ChangeMessageVisibilityCommand)
    .map((call) => [call.args[0].input.ReceiptHandle, call.args[0].input.VisibilityTimeout]);

async function run(options: { dryRun?: boolean; discardGone?: boolean; maxMessages?: number } = {}) {
  const lines: string[] = [];
  const outcomes = await replayQueue(clients, {
    queueUrl: QUEUE_URL,
    functionName: FUNCTION,
    waitTimeSeconds: 0,
    ...options,
    log: (line) => lines.push(line),
  });
  return { outcomes, lines };
}

/** The queue holds these messages once, then is empty. */
function queueHolds(...messages: Message[]) {
  sqsMock.on(ReceiveMessageCommand).resolvesOnce({ Messages: messages }).resolves({ Messages: [] });
}

beforeEach(() => {
  sqsMock.reset();
  streamsMock.reset();
  lambdaMock.reset();
  streamsMock.on(GetShardIteratorCommand).resolves({ ShardIterator: 'iterator-1' });
});

describe('replaying a dead letter from the queue', () => {
  it('reads its records from the stream at its first sequence number, invokes the consumer with them, and deletes it', async () => {
    queueHolds(deadLetter('m1', '100', '300'));
    streamsMock
      .on(GetRecordsCommand)
      .resolves({ Records: [record('100', 4), record('200', 5), record('300', 6), record('400', 7)] });
    lambdaMock.on(InvokeCommand).resolves(answer({ batchItemFailures: [] }));

    const { outcomes, lines } = await run();

    expect(streamsMock.commandCalls(GetShardIteratorCommand)[0]?.args[0].input).toEqual({
      StreamArn: STREAM_ARN,
      ShardId: SHARD,
      ShardIteratorType: 'AT_SEQUENCE_NUMBER',
      SequenceNumber: '100',
    });
    const [event, ...others] = invokedEvents();
    expect(others).toHaveLength(0);
    expect(lambdaMock.commandCalls(InvokeCommand)[0]?.args[0].input).toMatchObject({
      FunctionName: FUNCTION,
      InvocationType: 'RequestResponse',
    });
    // Exactly the batch, as Lambda delivers records: the stream's ARN and region on each, creation in seconds.
    expect(event?.Records.map((r) => r.dynamodb?.SequenceNumber)).toEqual(['100', '200', '300']);
    expect(event?.Records[0]).toMatchObject({
      eventSourceARN: STREAM_ARN,
      awsRegion: 'eu-west-1',
      dynamodb: { ApproximateCreationDateTime: 1_767_225_605, NewImage: { version: { N: '4' } } },
    });
    expect(deleted()).toEqual(['receipt-m1']);
    expect(madeVisible()).toEqual([]);
    expect(outcomes).toEqual([{ kind: 'replayed', messageId: 'm1', batch: `${SHARD} 100..300`, records: 3 }]);
    expect(lines[0]).toMatch(/^replayed .* \(3 records\): message deleted$/);
  });

  it('follows the shard across reads until the batch ends, comparing sequence numbers as numbers', async () => {
    // Longer than a double holds exactly, and of different lengths: compared as text, '99...' > '100...'.
    const first = '99999999999999999999';
    const last = '100000000000000000002';
    queueHolds(deadLetter('m1', first, last));
    streamsMock
      .on(GetRecordsCommand, { ShardIterator: 'iterator-1' })
      .resolves({ Records: [record(first, 1)], NextShardIterator: 'iterator-2' })
      .on(GetRecordsCommand, { ShardIterator: 'iterator-2' })
      .resolves({ Records: [], NextShardIterator: 'iterator-3' })
      .on(GetRecordsCommand, { ShardIterator: 'iterator-3' })
      .resolves({
        Records: [record('100000000000000000001', 2), record(last, 3)],
        NextShardIterator: 'iterator-4',
      });
    lambdaMock.on(InvokeCommand).resolves(answer({ batchItemFailures: [] }));

    const { outcomes } = await run();

    expect(invokedEvents()[0]?.Records.map((r) => r.dynamodb?.NewImage?.version?.N)).toEqual(['1', '2', '3']);
    // It stopped at the batch's end rather than reading on.
    expect(streamsMock.commandCalls(GetRecordsCommand)).toHaveLength(3);
    expect(outcomes[0]?.kind).toBe('replayed');
  });

  it('keeps the message, visible again, when the consumer reports a record failed', async () => {
    queueHolds(deadLetter('m1', '100', '300'));
    streamsMock
      .on(GetRecordsCommand)
      .resolves({ Records: [record('100', 4), record('200', 5), record('300', 6)] });
    lambdaMock.on(InvokeCommand).resolves(answer({ batchItemFailures: [{ itemIdentifier: '200' }] }));

    const { outcomes, lines } = await run();

    expect(deleted()).toEqual([]);
    expect(madeVisible()).toEqual([['receipt-m1', 0]]);
    expect(outcomes).toEqual([
      {
        kind: 'failed',
        messageId: 'm1',
        batch: `${SHARD} 100..300`,
        reason: 'the consumer reported record 200 failed (see its log)',
      },
    ]);
    expect(lines[0]).toMatch(/^FAILED .*record 200 failed.*; message kept$/);
  });

  it('keeps the message when the consumer crashes, or cannot be invoked', async () => {
    queueHolds(deadLetter('m1', '100', '100', 1), deadLetter('m2', '200', '200', 1));
    streamsMock.on(GetRecordsCommand).resolves({ Records: [record('100', 4), record('200', 5)] });
    lambdaMock
      .on(InvokeCommand)
      .resolvesOnce(answer({ errorType: 'Error', errorMessage: 'boom' }, 'Unhandled'))
      .rejectsOnce(new TooManyRequestsException({ message: 'Rate exceeded', $metadata: {} }));

    const { outcomes } = await run();

    expect(outcomes.map((outcome) => outcome.kind)).toEqual(['failed', 'failed']);
    expect(outcomes[0]).toMatchObject({ reason: expect.stringContaining('the consumer failed (Unhandled)') });
    expect(outcomes[1]).toMatchObject({ reason: expect.stringContaining('TooManyRequestsException') });
    expect(deleted()).toEqual([]);
    expect(madeVisible()).toEqual([
      ['receipt-m1', 0],
      ['receipt-m2', 0],
    ]);
  });

  it('says clearly when the stream no longer holds the records, and keeps the message', async () => {
    queueHolds(deadLetter('m1', '100', '300'));
    streamsMock
      .on(GetShardIteratorCommand)
      .rejects(new TrimmedDataAccessException({ message: 'trimmed', $metadata: {} }));

    const { outcomes, lines } = await run();

    expect(lambdaMock.commandCalls(InvokeCommand)).toHaveLength(0);
    expect(deleted()).toEqual([]);
    expect(madeVisible()).toEqual([['receipt-m1', 0]]);
    expect(outcomes[0]).toMatchObject({ kind: 'gone', discarded: false });
    expect(lines[0]).toMatch(/^GONE .*trimmed\. These changes cannot be replayed: message kept/);
  });

  it('treats a batch whose first record has been trimmed as gone, not as a shorter batch', async () => {
    queueHolds(deadLetter('m1', '100', '300'));
    streamsMock.on(GetRecordsCommand).resolves({ Records: [record('200', 5), record('300', 6)] });

    const { outcomes } = await run();

    expect(outcomes[0]).toMatchObject({ kind: 'gone' });
    expect(lambdaMock.commandCalls(InvokeCommand)).toHaveLength(0);
  });

  it('deletes a message whose records are gone only with --discard-gone', async () => {
    queueHolds(deadLetter('m1', '100', '300'));
    streamsMock
      .on(GetShardIteratorCommand)
      .rejects(new TrimmedDataAccessException({ message: 'trimmed', $metadata: {} }));

    const { outcomes, lines } = await run({ discardGone: true });

    expect(deleted()).toEqual(['receipt-m1']);
    expect(outcomes[0]).toMatchObject({ kind: 'gone', discarded: true });
    expect(lines[0]).toMatch(/^DISCARDED /);
  });

  it('keeps a message that is not a stream batch description, and goes on with the rest', async () => {
    queueHolds(
      { MessageId: 'm0', ReceiptHandle: 'receipt-m0', Body: '{"hello":1}' },
      deadLetter('m1', '100', '100', 1),
    );
    streamsMock.on(GetRecordsCommand).resolves({ Records: [record('100', 4)] });
    lambdaMock.on(InvokeCommand).resolves(answer({ batchItemFailures: [] }));

    const { outcomes } = await run();

    expect(outcomes.map((outcome) => outcome.kind)).toEqual(['failed', 'replayed']);
    expect(outcomes[0]).toMatchObject({ reason: expect.stringContaining('not a stream batch description') });
    expect(deleted()).toEqual(['receipt-m1']);
    expect(madeVisible()).toEqual([['receipt-m0', 0]]);
  });

  it('in a dry run reads the records but invokes and deletes nothing', async () => {
    queueHolds(deadLetter('m1', '100', '300'));
    streamsMock
      .on(GetRecordsCommand)
      .resolves({ Records: [record('100', 4), record('200', 5), record('300', 6)] });

    const { outcomes } = await run({ dryRun: true });

    expect(outcomes).toEqual([
      { kind: 'replayable', messageId: 'm1', batch: `${SHARD} 100..300`, records: 3 },
    ]);
    expect(lambdaMock.commandCalls(InvokeCommand)).toHaveLength(0);
    expect(deleted()).toEqual([]);
    expect(madeVisible()).toEqual([['receipt-m1', 0]]);
  });

  it('handles each message once, even when a kept one becomes visible again during the run', async () => {
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [deadLetter('m1', '100', '100', 1)] })
      .resolvesOnce({
        Messages: [{ ...deadLetter('m1', '100', '100', 1), ReceiptHandle: 'receipt-m1-again' }],
      })
      .resolves({ Messages: [] });
    streamsMock.on(GetRecordsCommand).resolves({ Records: [record('100', 4)] });
    lambdaMock.on(InvokeCommand).resolves(answer({ batchItemFailures: [{ itemIdentifier: '100' }] }));

    const { outcomes } = await run();

    expect(outcomes).toHaveLength(1);
    expect(lambdaMock.commandCalls(InvokeCommand)).toHaveLength(1);
    expect(madeVisible()).toEqual([
      ['receipt-m1', 0],
      ['receipt-m1-again', 0],
    ]);
  });

  it('stops after --max messages', async () => {
    sqsMock.on(ReceiveMessageCommand).resolves({ Messages: [deadLetter('m1', '100', '100', 1)] });
    streamsMock.on(GetRecordsCommand).resolves({ Records: [record('100', 4)] });
    lambdaMock.on(InvokeCommand).resolves(answer({ batchItemFailures: [] }));

    const { outcomes } = await run({ maxMessages: 1 });

    expect(outcomes).toHaveLength(1);
    expect(sqsMock.commandCalls(ReceiveMessageCommand)[0]?.args[0].input.MaxNumberOfMessages).toBe(1);
  });

  it('hides each message from other readers while it works on it', async () => {
    queueHolds();
    await run();
    expect(sqsMock.commandCalls(ReceiveMessageCommand)[0]?.args[0].input).toMatchObject({
      QueueUrl: QUEUE_URL,
      VisibilityTimeout: 300,
    });
  });
});

describe('the replay-dead-letters command', () => {
  it('takes the queue and function, and the region from the queue URL', () => {
    expect(parseSettings(['--queue-url', QUEUE_URL, '--function', FUNCTION, '--max', '5'], {})).toEqual({
      mode: 'aws',
      queueUrl: QUEUE_URL,
      functionName: FUNCTION,
      region: 'eu-west-1',
      dryRun: false,
      discardGone: false,
      maxMessages: 5,
    });
  });

  it('replays the local file named by LOCAL_DEAD_LETTERS in --local mode', () => {
    expect(parseSettings(['--local'], { LOCAL_DEAD_LETTERS: '/tmp/letters.jsonl' })).toEqual({
      mode: 'local',
      file: '/tmp/letters.jsonl',
    });
  });

  it.each([
    [[], /--queue-url/],
    [['--queue-url', QUEUE_URL], /--function is required/],
    [['--queue-url', 'sqs-queue', '--function', FUNCTION], /--queue-url must be the queue URL/],
    [['--queue-url', QUEUE_URL, '--function', FUNCTION, '--max', '0'], /--max must be a whole number/],
    [['--local', '--dry-run'], /--local takes none of --dry-run/],
    [['--file', 'x.jsonl', '--queue-url', QUEUE_URL, '--function', FUNCTION], /--file is for --local/],
  ])('refuses %j', (args, message) => {
    expect(() => parseSettings(args, {})).toThrow(message);
  });

  const quiet = () => undefined;
  const awsArgs = ['--queue-url', QUEUE_URL, '--function', FUNCTION];

  it('exits 2 on bad usage without calling AWS', async () => {
    expect(await main(['--queue-url', QUEUE_URL], {}, quiet, quiet)).toBe(2);
    expect(sqsMock.commandCalls(ReceiveMessageCommand)).toHaveLength(0);
  });

  it('exits 0 when every dead letter was replayed, and says how many', async () => {
    queueHolds(deadLetter('m1', '100', '100', 1));
    streamsMock.on(GetRecordsCommand).resolves({ Records: [record('100', 4)] });
    lambdaMock.on(InvokeCommand).resolves(answer({ batchItemFailures: [] }));
    const lines: string[] = [];

    expect(await main(awsArgs, {}, (line) => lines.push(line), quiet)).toBe(0);
    expect(lines.at(-1)).toBe('1 dead letter(s): 1 replayed, 0 kept');
  });

  it('exits 1 when any dead letter was kept, and 0 when there was none', async () => {
    queueHolds(deadLetter('m1', '100', '100', 1), deadLetter('m2', '200', '200', 1));
    streamsMock.on(GetRecordsCommand).resolves({ Records: [record('100', 4), record('200', 5)] });
    lambdaMock
      .on(InvokeCommand)
      .resolvesOnce(answer({ batchItemFailures: [] }))
      .resolves(answer({ batchItemFailures: [{ itemIdentifier: '200' }] }));
    const lines: string[] = [];

    expect(await main(awsArgs, {}, (line) => lines.push(line), quiet)).toBe(1);
    expect(lines.at(-1)).toBe('2 dead letter(s): 1 replayed, 1 kept');

    sqsMock.reset();
    queueHolds();
    expect(await main(awsArgs, {}, (line) => lines.push(line), quiet)).toBe(0);
    expect(lines.at(-1)).toBe('no dead letters');
  });
});
