import { existsSync } from 'node:fs';
import path from 'node:path';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { StreamPoller } from '../lib/local/stream-poller.ts';
import { HISTORY_STREAM } from '../lib/stream-settings.ts';
import type { HistoryBench } from './history-setup.ts';

export interface ConsumeResult {
  /** Stream records the consumer applied (a retried record counts once). */
  records: number;
  invocations: number;
  /** Invocations that reported a failed record, so the poller delivered part of the batch again. */
  failedInvocations: number;
  /** Records per invocation, largest seen: shows the batches really were as large as asked. */
  largestBatch: number;
  seconds: number;
  /** Of those, the time spent inside the consumer's handler (the rest is the poller's reads and checkpoints). */
  handlerSeconds: number;
  /** True if the poller wrote a dead-letter entry (a record given up on): the history is then incomplete. */
  deadLettered: boolean;
}

/** The same name every time, so each poller resumes where the last one stopped. */
const CONSUMER = 'history-scale';
/** With no progress for this long the consumer is stuck, and the run stops rather than hang. */
const STALL_MS = 120_000;

/**
 * Runs the real consumer through the local server's StreamPoller (Lambda's event source mapping:
 * batches in shard order, retries, checkpoints) until it has applied `expected` more records, then
 * stops the poller. Callers write first and consume after, so every batch is as large as `batchSize`
 * allows and the consumer's time is its own, not shared with the writers.
 */
export async function consume(
  bench: HistoryBench,
  options: {
    expected: number;
    batchSize: number;
    meterLabel?: string | undefined;
    log?: (line: string) => void;
  },
): Promise<ConsumeResult> {
  const tally = new ConsumerTally(bench.consumer, options.expected, options.log);
  const deadLetterFile = path.join(bench.workDir, 'dead-letters.jsonl');
  const poller = new StreamPoller({
    streams: bench.streams,
    checkpoints: { client: bench.checkpoints, table: bench.tables.checkpoints },
    streamArn: bench.streamArn,
    consumer: CONSUMER,
    handler: (event) => tally.handle(event),
    settings: {
      batchSize: options.batchSize,
      bisectBatchOnError: HISTORY_STREAM.bisectBatchOnError,
      retryAttempts: HISTORY_STREAM.retryAttempts,
      maxRecordAgeSeconds: HISTORY_STREAM.maxRecordAgeSeconds,
    },
    deadLetterFile,
    region: bench.region,
    idleMs: 20,
    log: (message, details) => options.log?.(`poller: ${message} ${JSON.stringify(details ?? {})}`),
  });
  bench.meter.label = options.meterLabel;
  const started = performance.now();
  poller.start();
  let seconds = Number.NaN;
  try {
    await Promise.race([tally.finished, tally.stalled()]);
    seconds = (performance.now() - started) / 1000;
  } finally {
    bench.meter.label = undefined;
    await poller.stop();
  }
  return tally.result(seconds, existsSync(deadLetterFile));
}

/** The consumer wrapped: what it applied, how, and when it is done or stuck. */
class ConsumerTally {
  private records = 0;
  private invocations = 0;
  private failedInvocations = 0;
  private largestBatch = 0;
  private handlerMs = 0;
  private lastProgress = Date.now();
  private nextReport = 10_000;
  private finish: () => void = () => undefined;
  /** Settles once `expected` records are applied. */
  readonly finished = new Promise<void>((resolve) => {
    this.finish = resolve;
  });

  constructor(
    private readonly consumer: HistoryBench['consumer'],
    private readonly expected: number,
    private readonly log: ((line: string) => void) | undefined,
  ) {}

  async handle(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
    const handlerStarted = performance.now();
    const response = await this.consumer(event);
    this.handlerMs += performance.now() - handlerStarted;
    this.invocations++;
    this.largestBatch = Math.max(this.largestBatch, event.Records.length);
    const failed = response.batchItemFailures[0]?.itemIdentifier;
    if (failed === undefined) {
      this.records += event.Records.length;
    } else {
      this.failedInvocations++;
      const at = event.Records.findIndex((record) => record.dynamodb?.SequenceNumber === failed);
      this.records += Math.max(0, at);
    }
    this.lastProgress = Date.now();
    if (this.records >= this.nextReport) {
      this.log?.(`consumer: ${this.records} of ${this.expected} records`);
      this.nextReport += 10_000;
    }
    if (this.records >= this.expected) this.finish();
    return response;
  }

  /** Rejects if the consumer makes no progress for STALL_MS: the run stops rather than hang. */
  stalled(): Promise<never> {
    return new Promise<never>((_, reject) => {
      const check = setInterval(() => {
        if (this.records >= this.expected) clearInterval(check);
        else if (Date.now() - this.lastProgress > STALL_MS) {
          clearInterval(check);
          reject(
            new Error(`the consumer made no progress for ${STALL_MS / 1000} s at ${this.records} records`),
          );
        }
      }, 1_000);
      void this.finished.then(() => clearInterval(check));
    });
  }

  result(seconds: number, deadLettered: boolean): ConsumeResult {
    return {
      records: this.records,
      invocations: this.invocations,
      failedInvocations: this.failedInvocations,
      largestBatch: this.largestBatch,
      seconds,
      handlerSeconds: this.handlerMs / 1000,
      deadLettered,
    };
  }
}
