import type { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { DynamoDBRecord } from 'aws-lambda';
import {
  batchResponse,
  deadLetterMessage,
  describeBatch,
  firstFailure,
  type StreamBatchInfo,
} from './messages.ts';
import { readBatch } from './stream-batch.ts';

export interface QueueReplayClients {
  sqs: SQSClient;
  streams: DynamoDBStreamsClient;
  lambda: LambdaClient;
}

export interface QueueReplayOptions {
  /** The history dead-letter queue (stack output HistoryDeadLetterQueueUrl). */
  queueUrl: string;
  /** The deployed consumer (stack output HistoryConsumerFunctionName): same code, same role. */
  functionName: string;
  /** Read the records and say what would be replayed; invoke nothing, delete nothing. */
  dryRun?: boolean;
  /** Delete messages whose records the stream no longer holds (after accepting their loss). */
  discardGone?: boolean;
  /** Stop after this many messages. */
  maxMessages?: number;
  /** How long a message stays hidden from others while this run handles it. */
  visibilityTimeoutSeconds?: number;
  /** Long polling of each receive; 0 in tests. */
  waitTimeSeconds?: number;
  log: (line: string) => void;
}

export type Outcome =
  /** The consumer took every record: the message is deleted. */
  | { kind: 'replayed'; messageId: string; batch: string; records: number }
  /** Dry run: the records are there and would be replayed. */
  | { kind: 'replayable'; messageId: string; batch: string; records: number }
  /** The stream no longer holds them; kept unless discarded. */
  | { kind: 'gone'; messageId: string; batch: string; reason: string; discarded: boolean }
  /** Reading, invoking or the consumer failed: kept, to be run again. */
  | { kind: 'failed'; messageId: string; batch?: string | undefined; reason: string };

/** Keeps each invocation well under Lambda's 6 MB synchronous payload. */
const MAX_PAYLOAD_BYTES = 4 * 1024 * 1024;

/**
 * Replays the history dead letters: for each message, reads its batch back from the stream and
 * invokes the consumer with it, in order; deletes the message only when the consumer reported no
 * failure. A message that cannot be replayed is kept and made visible again at the end, so the
 * DeadLetterAlarm stays on and another run can try it.
 */
export async function replayQueue(
  clients: QueueReplayClients,
  options: QueueReplayOptions,
): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const seen = new Set<string>();
  const keep: string[] = [];
  const max = options.maxMessages ?? Number.POSITIVE_INFINITY;
  try {
    while (outcomes.length < max) {
      const { Messages = [] } = await clients.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: options.queueUrl,
          MaxNumberOfMessages: Math.min(10, max - outcomes.length),
          VisibilityTimeout: options.visibilityTimeoutSeconds ?? 300,
          WaitTimeSeconds: options.waitTimeSeconds ?? 2,
        }),
      );
      let fresh = 0;
      for (const message of Messages) {
        const id = message.MessageId ?? message.ReceiptHandle ?? '';
        if (seen.has(id)) {
          // Visible again within this run (its visibility ran out): left for the next run.
          if (message.ReceiptHandle !== undefined) keep.push(message.ReceiptHandle);
          continue;
        }
        seen.add(id);
        fresh++;
        const outcome = await replayMessage(clients, options, id, message);
        outcomes.push(outcome);
        options.log(report(outcome));
        const settled = outcome.kind === 'replayed' || (outcome.kind === 'gone' && outcome.discarded);
        if (message.ReceiptHandle === undefined) continue;
        if (settled) {
          await clients.sqs.send(
            new DeleteMessageCommand({ QueueUrl: options.queueUrl, ReceiptHandle: message.ReceiptHandle }),
          );
        } else {
          keep.push(message.ReceiptHandle);
        }
      }
      if (fresh === 0) break;
    }
  } finally {
    for (const receiptHandle of keep) {
      try {
        await clients.sqs.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: options.queueUrl,
            ReceiptHandle: receiptHandle,
            VisibilityTimeout: 0,
          }),
        );
      } catch (error) {
        options.log(
          `could not make a kept message visible again (it will be after its timeout): ${message(error)}`,
        );
      }
    }
  }
  return outcomes;
}

async function replayMessage(
  clients: QueueReplayClients,
  options: QueueReplayOptions,
  messageId: string,
  sqsMessage: Message,
): Promise<Outcome> {
  let info: StreamBatchInfo;
  try {
    info = deadLetterMessage.parse(JSON.parse(sqsMessage.Body ?? '')).DDBStreamBatchInfo;
  } catch (error) {
    return { kind: 'failed', messageId, reason: `not a stream batch description: ${message(error)}` };
  }
  const batch = describeBatch(info);
  try {
    const read = await readBatch(clients.streams, info);
    if (read.kind === 'gone') {
      return { kind: 'gone', messageId, batch, reason: read.reason, discarded: options.discardGone === true };
    }
    if (options.dryRun === true) {
      return { kind: 'replayable', messageId, batch, records: read.records.length };
    }
    for (const chunk of chunks(read.records)) {
      const failure = await invokeConsumer(clients.lambda, options.functionName, chunk);
      if (failure !== undefined) return { kind: 'failed', messageId, batch, reason: failure };
    }
    return { kind: 'replayed', messageId, batch, records: read.records.length };
  } catch (error) {
    return { kind: 'failed', messageId, batch, reason: message(error) };
  }
}

/** Invokes the consumer as the event source mapping does; what went wrong, or undefined. */
async function invokeConsumer(
  lambda: LambdaClient,
  functionName: string,
  records: DynamoDBRecord[],
): Promise<string | undefined> {
  const { FunctionError, Payload } = await lambda.send(
    new InvokeCommand({
      FunctionName: functionName,
      InvocationType: 'RequestResponse',
      Payload: new TextEncoder().encode(JSON.stringify({ Records: records })),
    }),
  );
  const text = Payload === undefined ? '' : new TextDecoder().decode(Payload);
  if (FunctionError !== undefined) return `the consumer failed (${FunctionError}): ${text.slice(0, 500)}`;
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    return `the consumer answered something other than JSON: ${text.slice(0, 200)}`;
  }
  const parsed = batchResponse.safeParse(answer);
  if (!parsed.success) return `the consumer answered no batch response: ${text.slice(0, 200)}`;
  const failed = firstFailure(parsed.data);
  return failed === undefined ? undefined : `the consumer reported record ${failed} failed (see its log)`;
}

/** Consecutive runs of records, each small enough for one invocation; in order. */
function chunks(records: DynamoDBRecord[]): DynamoDBRecord[][] {
  const result: DynamoDBRecord[][] = [];
  let current: DynamoDBRecord[] = [];
  let size = 0;
  for (const record of records) {
    const bytes = Buffer.byteLength(JSON.stringify(record));
    if (current.length > 0 && size + bytes > MAX_PAYLOAD_BYTES) {
      result.push(current);
      current = [];
      size = 0;
    }
    current.push(record);
    size += bytes;
  }
  if (current.length > 0) result.push(current);
  return result;
}

/** One line per message, for the operator. */
export function report(outcome: Outcome): string {
  switch (outcome.kind) {
    case 'replayed':
      return `replayed    ${outcome.batch} (${outcome.records} records): message deleted`;
    case 'replayable':
      return `replayable  ${outcome.batch} (${outcome.records} records still in the stream; dry run, nothing done)`;
    case 'gone':
      return outcome.discarded
        ? `DISCARDED   ${outcome.batch}: ${outcome.reason}; message deleted (--discard-gone)`
        : `GONE        ${outcome.batch}: ${outcome.reason}. These changes cannot be replayed: message kept ` +
            '(see docs/operations.md; --discard-gone deletes it once the gap is accepted)';
    case 'failed':
      return `FAILED      ${outcome.batch ?? `message ${outcome.messageId}`}: ${outcome.reason}; message kept`;
  }
}

function message(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
