import {
  DynamoDBStreamsClient,
  GetShardIteratorCommand,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
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
import { beforeEach } from 'vitest';

// The history's dead-letter queue, its stream and the consumer function, mocked for the tests of
// scripts/dead-letters/replay-queue.ts and of the replay-dead-letters command.

export const QUEUE_URL =
  'https://sqs.eu-west-1.amazonaws.com/111111111111/CounterService-HistoryDeadLetterQueue';
export const FUNCTION = 'CounterService-HistoryConsumerFunction-abc';
export const STREAM_ARN =
  'arn:aws:dynamodb:eu-west-1:111111111111:table/counters/stream/2026-01-01T00:00:00.000';
export const SHARD = 'shardId-00000001700000000000-abcdef01';

/** A stream record of the counter `page-views` at `version`, with sequence number `sequence`. */
export function record(sequence: string, version: number): StreamRecord {
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
export function deadLetter(id: string, start: string, end: string, batchSize = 3): Message {
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

/** The consumer's answer to an Invoke. */
export function answer(body: unknown, functionError?: string) {
  return {
    StatusCode: 200,
    Payload: Uint8ArrayBlobAdapter.fromString(JSON.stringify(body)),
    ...(functionError === undefined ? {} : { FunctionError: functionError }),
  };
}

/**
 * Mocks the SQS, DynamoDB Streams and Lambda clients, resets them before each test and opens a shard
 * iterator for any GetShardIterator; returns the mocks, clients they answer, and readers of what was sent.
 */
export function useDeadLetterMocks() {
  const sqsMock = mockClient(SQSClient);
  const streamsMock = mockClient(DynamoDBStreamsClient);
  const lambdaMock = mockClient(LambdaClient);
  const clients = {
    sqs: new SQSClient({ region: 'eu-west-1' }),
    streams: new DynamoDBStreamsClient({ region: 'eu-west-1' }),
    lambda: new LambdaClient({ region: 'eu-west-1' }),
  };

  beforeEach(() => {
    sqsMock.reset();
    streamsMock.reset();
    lambdaMock.reset();
    streamsMock.on(GetShardIteratorCommand).resolves({ ShardIterator: 'iterator-1' });
  });

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

  /** The queue holds these messages once, then is empty. */
  function queueHolds(...messages: Message[]) {
    sqsMock.on(ReceiveMessageCommand).resolvesOnce({ Messages: messages }).resolves({ Messages: [] });
  }

  return { sqsMock, streamsMock, lambdaMock, clients, invokedEvents, deleted, madeVisible, queueHolds };
}
