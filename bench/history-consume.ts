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
  let records = 0;
  let invocations = 0;
  let failedInvocations = 0;
  let largestBatch = 0;
  let handlerMs = 0;
  let lastProgress = Date.now();
  let nextReport = 10_000;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const handler = async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
    const handlerStarted = performance.now();
    const response = await bench.consumer(event);
    handlerMs += performance.now() - handlerStarted;
    invocations++;
    largestBatch = Math.max(largestBatch, event.Records.length);
    const failed = response.batchItemFailures[0]?.itemIdentifier;
    if (failed === undefined) {
      records += event.Records.length;
    } else {
      failedInvocations++;
      const at = event.Records.findIndex((record) => record.dynamodb?.SequenceNumber === failed);
      records += Math.max(0, at);
    }
    lastProgress = Date.now();
    if (records >= nextReport) {
      options.log?.(`consumer: ${records} of ${options.expected} records`);
      nextReport += 10_000;
    }
    if (records >= options.expected) finish();
    return response;
  };
  const deadLetterFile = path.join(bench.workDir, 'dead-letters.jsonl');
  const poller = new StreamPoller({
    streams: bench.streams,
    checkpoints: { client: bench.checkpoints, table: bench.tables.checkpoints },
    streamArn: bench.streamArn,
    consumer: CONSUMER,
    handler,
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
  const stalled = new Promise<never>((_, reject) => {
    const check = setInterval(() => {
      if (records >= options.expected) clearInterval(check);
      else if (Date.now() - lastProgress > STALL_MS) {
        clearInterval(check);
        reject(new Error(`the consumer made no progress for ${STALL_MS / 1000} s at ${records} records`));
      }
    }, 1_000);
    void finished.then(() => clearInterval(check));
  });
  bench.meter.label = options.meterLabel;
  const started = performance.now();
  poller.start();
  let seconds = Number.NaN;
  try {
    await Promise.race([finished, stalled]);
    seconds = (performance.now() - started) / 1000;
  } finally {
    bench.meter.label = undefined;
    await poller.stop();
  }
  return {
    records,
    invocations,
    failedInvocations,
    largestBatch,
    seconds,
    handlerSeconds: handlerMs / 1000,
    deadLettered: existsSync(deadLetterFile),
  };
}
