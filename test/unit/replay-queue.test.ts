import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  TrimmedDataAccessException,
} from '@aws-sdk/client-dynamodb-streams';
import { InvokeCommand, TooManyRequestsException } from '@aws-sdk/client-lambda';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { replayQueue } from '../../scripts/dead-letters/replay-queue.ts';
import {
  answer,
  deadLetter,
  FUNCTION,
  QUEUE_URL,
  record,
  SHARD,
  STREAM_ARN,
  useDeadLetterMocks,
} from '../support/dead-letter-queue.ts';

// scripts/dead-letters/replay-queue.ts; the command that runs it: replay-dead-letters.test.ts.
const { sqsMock, streamsMock, lambdaMock, clients, invokedEvents, deleted, madeVisible, queueHolds } =
  useDeadLetterMocks();

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
