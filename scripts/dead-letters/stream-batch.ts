import {
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord } from 'aws-lambda';
import { toLambdaRecord } from '../../lib/local/stream-poller.ts';
import type { StreamBatchInfo } from './messages.ts';

export type BatchRead =
  | { kind: 'records'; records: DynamoDBRecord[] }
  /** The stream no longer holds the batch: trimmed after 24 hours, or the stream itself is gone. */
  | { kind: 'gone'; reason: string };

/** Reads of an open shard that may come back empty before the batch's records arrive. */
const MAX_EMPTY_READS = 20;

/**
 * Reads a dead-lettered batch's records back from the stream (GetShardIterator AT_SEQUENCE_NUMBER,
 * then GetRecords up to the end sequence number), as Lambda would deliver them to the consumer.
 */
export async function readBatch(streams: DynamoDBStreamsClient, info: StreamBatchInfo): Promise<BatchRead> {
  const start = BigInt(info.startSequenceNumber);
  const end = BigInt(info.endSequenceNumber);
  if (end < start) throw new Error(`the batch ends (${end}) before it starts (${start})`);
  const region = regionOf(info.streamArn);
  const records: StreamRecord[] = [];
  try {
    const { ShardIterator } = await streams.send(
      new GetShardIteratorCommand({
        StreamArn: info.streamArn,
        ShardId: info.shardId,
        ShardIteratorType: 'AT_SEQUENCE_NUMBER',
        SequenceNumber: info.startSequenceNumber,
      }),
    );
    let iterator = ShardIterator;
    let emptyReads = 0;
    while (iterator !== undefined && iterator !== null) {
      const { Records = [], NextShardIterator } = await streams.send(
        new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }),
      );
      for (const record of Records) {
        const sequence = BigInt(record.dynamodb?.SequenceNumber ?? '-1');
        if (sequence > end) return found(records, info, region);
        if (sequence >= start) records.push(record);
      }
      if (records.length > 0 && BigInt(records.at(-1)?.dynamodb?.SequenceNumber ?? '-1') === end) break;
      if (Records.length === 0 && ++emptyReads >= MAX_EMPTY_READS) {
        throw new Error(`the shard answered ${MAX_EMPTY_READS} empty reads before the batch's end`);
      }
      iterator = NextShardIterator;
    }
  } catch (error) {
    const gone = goneReason(error);
    if (gone !== undefined) return { kind: 'gone', reason: gone };
    throw error;
  }
  return found(records, info, region);
}

function found(records: StreamRecord[], info: StreamBatchInfo, region: string): BatchRead {
  // AT_SEQUENCE_NUMBER starts at the batch's first record; if that has been trimmed, the batch is gone.
  if (records[0]?.dynamodb?.SequenceNumber !== info.startSequenceNumber) {
    return { kind: 'gone', reason: "the stream no longer holds the batch's first record" };
  }
  return {
    kind: 'records',
    records: records.map((record) => toLambdaRecord(record, info.streamArn, region)),
  };
}

function goneReason(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error.name === 'TrimmedDataAccessException') {
    return 'the records are older than the stream keeps (24 hours): they have been trimmed';
  }
  if (error.name === 'ResourceNotFoundException') {
    return `the stream or shard no longer exists (${error.message})`;
  }
  return undefined;
}

/** arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL */
function regionOf(streamArn: string): string {
  return streamArn.split(':')[3] ?? '';
}
