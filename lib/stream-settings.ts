/**
 * How the history consumer reads the counters stream: the Lambda event source mapping in the stack,
 * and the local server's poller, take these same numbers.
 */
export const HISTORY_STREAM = {
  /** Records per invocation. The consumer writes them concurrently, so a large batch costs little. */
  batchSize: 100,
  /** The oldest record still in the stream first, so nothing written before the mapping is missed. */
  startingPosition: 'TRIM_HORIZON',
  /** Split a failing batch to isolate a bad record. */
  bisectBatchOnError: true,
  /** Retries of a failing batch before its description goes to the dead-letter queue. */
  retryAttempts: 10,
  /** Records older than this go to the dead-letter queue instead of being retried (the stream keeps 24 h). */
  maxRecordAgeSeconds: 6 * 60 * 60,
  reportBatchItemFailures: true,
  /** Records of one counter must be applied in order: one batch per shard at a time. */
  parallelizationFactor: 1,
} as const;
