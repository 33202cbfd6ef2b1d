import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type Shard,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { backoffMs } from '../../functions/platform/retry.ts';

/** How often the shards are described again while none ends (Lambda discovers new shards in about a minute). */
const SHARD_REFRESH_MS = 60_000;

/** Where one shard's delivery stands between reads, as Lambda keeps it for a failing batch. */
interface Delivery {
  batchSize: number;
  attempts: number;
  /** When a short batch was first seen, while a batching window gathers more. */
  gatheringSince: number | undefined;
  /** Being delivered again after a failure: goes at once, whatever the window. */
  retrying: boolean;
}

interface Batch {
  records: StreamRecord[];
  next: string | undefined;
}

export interface PollerSettings {
  batchSize: number;
  bisectBatchOnError: boolean;
  retryAttempts: number;
  maxRecordAgeSeconds: number;
  /**
   * As the event source's MaximumBatchingWindowInSeconds (the stack's `historyBatchingWindow`): a
   * batch short of `batchSize` waits up to this long after its records were first seen, gathering
   * more, before the consumer gets it. 0 or undefined: at once.
   */
  batchingWindowSeconds?: number | undefined;
}

export interface PollerOptions {
  streams: DynamoDBStreamsClient;
  /** Where positions are saved, so a restarted server resumes where it stopped. */
  checkpoints: { client: DynamoDBDocumentClient; table: string };
  streamArn: string;
  /** Names the saved position: one per consumer of the stream. */
  consumer: string;
  handler: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse | undefined>;
  settings: PollerSettings;
  /** A JSON Lines file that stands in for the SQS dead-letter queue. */
  deadLetterFile: string;
  region: string;
  idleMs?: number;
  retryBaseMs?: number;
  log?: (message: string, details?: Record<string, unknown>) => void;
}

/**
 * Polls a DynamoDB stream and invokes the consumer as Lambda's event source mapping does: batches in
 * shard order, one at a time per shard; a partial batch response retries from the first failed
 * record; a failing batch is bisected to isolate the bad record; after the configured retries (or
 * once a record is too old) the batch is described in the dead-letter file and the shard moves on.
 * With a batching window, a short batch waits for more records until the window closes or the batch
 * is full. The position is saved after every batch, so a restart resumes after the last batch handled.
 * Between batches it reads on with the iterator the last read returned, as Lambda does, rather than
 * describing the stream and asking for an iterator at the saved position every time.
 */
export class StreamPoller {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly finishedShards = new Set<string>();
  /** The stream's shards as last described, and when. */
  private shards: { list: Shard[]; at: number } | undefined;
  /** Per shard, the iterator just past the last record handled: the next read starts there. */
  private readonly iterators = new Map<string, string>();
  /** Per shard, the sequence number of the last record handled, as saved. */
  private readonly handled = new Map<string, string>();

  constructor(private readonly options: PollerOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops after the batch in hand (never halfway through one). */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }

  /** The last sequence number handled on each shard (saved, so it will not be delivered again). */
  handledThrough(): ReadonlyMap<string, string> {
    return this.handled;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let didWork = false;
      try {
        const shards = await this.describeShards();
        const known = new Set(shards.map((shard) => shard.ShardId));
        for (const shard of shards) {
          const id = shard.ShardId;
          if (id === undefined || this.finishedShards.has(id)) continue;
          // A child shard waits until its parent is drained, so a counter's changes stay in order.
          const parent = shard.ParentShardId;
          if (parent !== undefined && known.has(parent) && !this.finishedShards.has(parent)) continue;
          didWork = (await this.drainShard(id)) || didWork;
          if (!this.running) return;
        }
      } catch (error) {
        this.log('stream poll failed; retrying', { error: String(error) });
        // Start again from the saved positions, with the shards described afresh.
        this.iterators.clear();
        this.shards = undefined;
      }
      if (!didWork) await this.sleep(this.options.idleMs ?? 200);
    }
  }

  /**
   * The shards, described again only every SHARD_REFRESH_MS or once one has ended, as Lambda does:
   * each poll reads records with the iterator the last read returned, not from a fresh description.
   */
  private async describeShards(): Promise<Shard[]> {
    if (this.shards === undefined || Date.now() - this.shards.at > SHARD_REFRESH_MS) {
      const { StreamDescription } = await this.options.streams.send(
        new DescribeStreamCommand({ StreamArn: this.options.streamArn }),
      );
      this.shards = { list: StreamDescription?.Shards ?? [], at: Date.now() };
    }
    return this.shards.list;
  }

  /** Reads the shard from where it stopped until it is empty; true if it handled any record. */
  private async drainShard(shardId: string): Promise<boolean> {
    let handledAny = false;
    const delivery = this.freshDelivery();
    while (this.running) {
      const batch = await this.readBatch(shardId, delivery.batchSize);
      if (batch === undefined) return handledAny;
      handledAny = true;
      if (await this.gathering(delivery, batch.records)) continue;
      const failedAt = await this.invoke(shardId, batch.records);
      if (failedAt === undefined) await this.handledBatch(shardId, delivery, batch);
      else await this.failed(shardId, delivery, batch, failedAt);
    }
    return handledAny;
  }

  private freshDelivery(): Delivery {
    return {
      batchSize: this.options.settings.batchSize,
      attempts: 0,
      gatheringSince: undefined,
      retrying: false,
    };
  }

  /** The shard's pending records, or undefined when it has none now (or has ended). */
  private async readBatch(shardId: string, limit: number): Promise<Batch | undefined> {
    const iterator = this.iterators.get(shardId) ?? (await this.iteratorFromSavedPosition(shardId));
    if (iterator === undefined) {
      this.finishShard(shardId);
      return undefined;
    }
    const { Records = [], NextShardIterator } = await this.options.streams.send(
      new GetRecordsCommand({ ShardIterator: iterator, Limit: limit }),
    );
    if (Records.length === 0) {
      if (NextShardIterator === undefined || NextShardIterator === null) this.finishShard(shardId);
      else this.iterators.set(shardId, NextShardIterator);
      return undefined;
    }
    // The same iterator reads the same records again until they are handled: a retry, a smaller
    // batch, or a batching window that gathers more.
    this.iterators.set(shardId, iterator);
    return { records: Records, next: NextShardIterator ?? undefined };
  }

  /** A first delivery short of a full batch waits for the window to close (retries go at once). */
  private async gathering(delivery: Delivery, records: StreamRecord[]): Promise<boolean> {
    const windowMs = (this.options.settings.batchingWindowSeconds ?? 0) * 1000;
    if (windowMs > 0 && !delivery.retrying && records.length < delivery.batchSize) {
      delivery.gatheringSince ??= Date.now();
      const left = delivery.gatheringSince + windowMs - Date.now();
      if (left > 0) {
        await this.sleep(Math.min(left, this.options.idleMs ?? 200));
        return true;
      }
    }
    delivery.gatheringSince = undefined;
    return false;
  }

  /** Everything up to the batch's last record is handled: save it, read on after it, start afresh. */
  private async handledBatch(shardId: string, delivery: Delivery, batch: Batch): Promise<void> {
    await this.savePosition(shardId, lastSequence(batch.records));
    if (batch.next === undefined) this.iterators.delete(shardId);
    else this.iterators.set(shardId, batch.next);
    Object.assign(delivery, this.freshDelivery());
  }

  /** As Lambda after a failed batch: resume at the failed record, bisect, retry, then dead-letter. */
  private async failed(shardId: string, delivery: Delivery, batch: Batch, failedAt: number): Promise<void> {
    const { records } = batch;
    delivery.retrying = true;
    // Everything before the failed record is done; the rest is delivered again from it.
    if (failedAt > 0) {
      await this.savePosition(shardId, sequenceOf(records[failedAt - 1]));
      this.iterators.delete(shardId);
      delivery.attempts = 0;
      return;
    }
    const tooOld = ageSeconds(records[0]) > this.options.settings.maxRecordAgeSeconds;
    // Halve a failing batch down to its first record before spending retries, so only the record
    // that fails reaches the dead-letter file, never the good ones delivered beside it.
    if (this.options.settings.bisectBatchOnError && records.length > 1 && !tooOld) {
      delivery.batchSize = Math.max(1, Math.ceil(records.length / 2));
      await this.sleep(this.options.retryBaseMs ?? 50);
      return;
    }
    delivery.attempts++;
    if (delivery.attempts > this.options.settings.retryAttempts || tooOld) {
      const reason = tooOld ? 'RecordAgeExceeded' : 'RetryAttemptsExhausted';
      await this.deadLetter(shardId, records, delivery.attempts, reason);
      await this.handledBatch(shardId, delivery, batch);
      return;
    }
    // Lambda's retries of a failing batch, stood in for with a schedule a test can predict.
    await this.sleep(
      backoffMs(delivery.attempts - 1, {
        baseMs: this.options.retryBaseMs ?? 50,
        capMs: 2_000,
        jitter: 'none',
      }),
    );
  }

  /** An iterator just after the saved position, or at the oldest record if none is saved. */
  private async iteratorFromSavedPosition(shardId: string): Promise<string | undefined> {
    const position = await this.loadPosition(shardId);
    const { ShardIterator } = await this.options.streams.send(
      new GetShardIteratorCommand({
        StreamArn: this.options.streamArn,
        ShardId: shardId,
        ...(position === undefined
          ? { ShardIteratorType: 'TRIM_HORIZON' }
          : { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: position }),
      }),
    );
    return ShardIterator;
  }

  /** A closed shard, read to its end: its children may start, so the shards are described again. */
  private finishShard(shardId: string): void {
    this.finishedShards.add(shardId);
    this.iterators.delete(shardId);
    this.shards = undefined;
  }

  /** Invokes the consumer; returns the index of the first record to deliver again, if any. */
  private async invoke(shardId: string, records: StreamRecord[]): Promise<number | undefined> {
    const event: DynamoDBStreamEvent = { Records: records.map((record) => this.toLambdaRecord(record)) };
    try {
      const response = await this.options.handler(event);
      const failed = response?.batchItemFailures?.[0]?.itemIdentifier;
      if (failed === undefined) return undefined;
      const index = records.findIndex((record) => record.dynamodb?.SequenceNumber === failed);
      // An identifier that names no record of the batch fails the whole batch, as on Lambda.
      return index === -1 ? 0 : index;
    } catch (error) {
      this.log('history consumer threw; the batch will be retried', { shardId, error: String(error) });
      return 0;
    }
  }

  private toLambdaRecord(record: StreamRecord): DynamoDBRecord {
    return toLambdaRecord(record, this.options.streamArn, this.options.region);
  }

  private async deadLetter(shardId: string, records: StreamRecord[], attempts: number, condition: string) {
    const entry = {
      requestContext: { condition, approximateInvokeCount: attempts, functionArn: this.options.consumer },
      timestamp: new Date().toISOString(),
      DDBStreamBatchInfo: {
        shardId,
        startSequenceNumber: sequenceOf(records[0]),
        endSequenceNumber: lastSequence(records),
        batchSize: records.length,
        streamArn: this.options.streamArn,
      },
      // Lambda's on-failure record names the batch only; locally the records come along to inspect.
      records: records.map((record) => this.toLambdaRecord(record)),
    };
    await mkdir(dirname(this.options.deadLetterFile), { recursive: true });
    await appendFile(this.options.deadLetterFile, `${JSON.stringify(entry)}\n`);
    this.log('batch sent to the dead-letter file', { shardId, condition, file: this.options.deadLetterFile });
  }

  private positionKey(shardId: string): string {
    return `${this.options.consumer}|${this.options.streamArn}|${shardId}`;
  }

  private async loadPosition(shardId: string): Promise<string | undefined> {
    const { Item } = await this.options.checkpoints.client.send(
      new GetCommand({
        TableName: this.options.checkpoints.table,
        Key: { id: this.positionKey(shardId) },
        ConsistentRead: true,
      }),
    );
    const sequence = typeof Item?.sequence === 'string' ? Item.sequence : undefined;
    if (sequence !== undefined) this.handled.set(shardId, sequence);
    return sequence;
  }

  private async savePosition(shardId: string, sequence: string): Promise<void> {
    await this.options.checkpoints.client.send(
      new PutCommand({
        TableName: this.options.checkpoints.table,
        Item: { id: this.positionKey(shardId), sequence, saved_at: new Date().toISOString() },
      }),
    );
    this.handled.set(shardId, sequence);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private log(message: string, details?: Record<string, unknown>): void {
    this.options.log?.(message, details);
  }
}

/**
 * A record as Lambda delivers it. The SDK's record and Lambda's event record are the same DynamoDB
 * JSON on the wire; the SDK only turns the creation time into a Date, which Lambda sends as epoch
 * seconds.
 */
export function toLambdaRecord(record: StreamRecord, streamArn: string, region: string): DynamoDBRecord {
  const wire = JSON.parse(JSON.stringify(record)) as DynamoDBRecord;
  const created = record.dynamodb?.ApproximateCreationDateTime;
  return {
    ...wire,
    eventSourceARN: streamArn,
    awsRegion: region,
    dynamodb: {
      ...wire.dynamodb,
      ...(created === undefined ? {} : { ApproximateCreationDateTime: Math.floor(created.getTime() / 1000) }),
    },
  };
}

function sequenceOf(record: StreamRecord | undefined): string {
  return record?.dynamodb?.SequenceNumber ?? '';
}

function lastSequence(records: StreamRecord[]): string {
  return sequenceOf(records.at(-1));
}

function ageSeconds(record: StreamRecord | undefined): number {
  const created = record?.dynamodb?.ApproximateCreationDateTime;
  return created === undefined ? 0 : (Date.now() - created.getTime()) / 1000;
}
