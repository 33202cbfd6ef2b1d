import type { DynamoDBBatchResponse, DynamoDBRecord } from 'aws-lambda';
import { z } from 'zod';

/** Stream sequence numbers are decimal strings, longer than a JavaScript number holds exactly. */
const sequenceNumber = z.string().regex(/^[0-9]{1,64}$/, 'a stream sequence number (decimal digits)');

/**
 * What Lambda's on-failure destination says of a stream batch it gave up: where the batch lies in
 * the stream, not its records.
 */
export const streamBatchInfo = z.object({
  streamArn: z
    .string()
    .regex(/^arn:[^:]+:dynamodb:[^:]+:[^:]*:table\/.+\/stream\/.+$/, 'a DynamoDB stream ARN'),
  shardId: z.string().min(1),
  startSequenceNumber: sequenceNumber,
  endSequenceNumber: sequenceNumber,
  batchSize: z.number().int().nonnegative().optional(),
  approximateArrivalOfFirstRecord: z.string().optional(),
  approximateArrivalOfLastRecord: z.string().optional(),
});
export type StreamBatchInfo = z.infer<typeof streamBatchInfo>;

/** The body of a message in the history dead-letter queue (Lambda's on-failure record). */
export const deadLetterMessage = z.object({
  requestContext: z
    .object({
      condition: z.string().optional(),
      approximateInvokeCount: z.number().optional(),
      functionArn: z.string().optional(),
    })
    .optional(),
  timestamp: z.string().optional(),
  DDBStreamBatchInfo: streamBatchInfo,
});

const lambdaRecordShape = z.looseObject({
  dynamodb: z.looseObject({
    SequenceNumber: sequenceNumber,
    NewImage: z.record(z.string(), z.unknown()).optional(),
    OldImage: z.record(z.string(), z.unknown()).optional(),
  }),
});

/** A stream record as Lambda delivers it to the consumer; its images are checked by the consumer itself. */
const lambdaRecord = z.custom<DynamoDBRecord>((value) => lambdaRecordShape.safeParse(value).success, {
  message: 'a stream record as Lambda delivers it (dynamodb.SequenceNumber and images)',
});

/**
 * A line of the local dead-letter file (LOCAL_DEAD_LETTERS, lib/local/stream-poller.ts): the same
 * description, and the records themselves.
 */
export const localDeadLetter = deadLetterMessage.extend({ records: z.array(lambdaRecord).min(1) });

/** What the consumer answers (ReportBatchItemFailures); Lambda reads nothing else of it. */
export const batchResponse = z.custom<DynamoDBBatchResponse>(
  (value) =>
    z.object({ batchItemFailures: z.array(z.object({ itemIdentifier: z.string() })) }).safeParse(value)
      .success,
  { message: 'a batch response ({"batchItemFailures": [...]})' },
);

/** Where a batch lies, for reports: shard and sequence range. */
export function describeBatch(info: StreamBatchInfo): string {
  return `${info.shardId} ${info.startSequenceNumber}..${info.endSequenceNumber}`;
}

/** The first record the consumer reported failed, if any. */
export function firstFailure(response: DynamoDBBatchResponse): string | undefined {
  return response.batchItemFailures[0]?.itemIdentifier;
}
