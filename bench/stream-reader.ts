import {
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';

/**
 * Reads the counters table's stream from where it last stopped, so the capacity section can hand
 * the consumer exactly the records its own requests produced, as Lambda's event source mapping
 * would (the local server's poller is asleep during the benchmarks).
 */
export class StreamReader {
  private readonly positions = new Map<string, string>();

  constructor(
    private readonly streams: DynamoDBStreamsClient,
    private readonly streamArn: string,
  ) {}

  /** Every record written since the last call, shard by shard, in order. */
  async drain(): Promise<StreamRecord[]> {
    const { StreamDescription } = await this.streams.send(
      new DescribeStreamCommand({ StreamArn: this.streamArn }),
    );
    const records: StreamRecord[] = [];
    for (const shard of StreamDescription?.Shards ?? []) {
      const shardId = shard.ShardId;
      if (shardId === undefined) continue;
      for (;;) {
        const position = this.positions.get(shardId);
        const { ShardIterator } = await this.streams.send(
          new GetShardIteratorCommand({
            StreamArn: this.streamArn,
            ShardId: shardId,
            ...(position === undefined
              ? { ShardIteratorType: 'TRIM_HORIZON' }
              : { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: position }),
          }),
        );
        if (ShardIterator === undefined) break;
        const { Records = [] } = await this.streams.send(
          new GetRecordsCommand({ ShardIterator, Limit: 1000 }),
        );
        if (Records.length === 0) break;
        records.push(...Records);
        const last = Records.at(-1)?.dynamodb?.SequenceNumber;
        if (last === undefined) break;
        this.positions.set(shardId, last);
      }
    }
    return records;
  }
}
