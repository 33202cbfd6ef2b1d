/**
 * How the history consumer reads the counters stream: the Lambda event source mapping in the stack,
 * and the local server's poller, take these same numbers.
 */
export const HISTORY_STREAM = {
  /** Records per invocation. The consumer writes them concurrently, so a large batch costs little. */
  batchSize: 100,
  /** The oldest record still in the stream first, so nothing written before the mapping is missed. */
  startingPosition: 'TRIM_HORIZON',
  /**
   * Split a failing batch, so that a bad record is isolated and only it reaches the dead-letter
   * queue, never the good records delivered beside it.
   */
  bisectBatchOnError: true,
  /**
   * Retries of a failing batch: Lambda's maximum, so that the record's age, not a count that a
   * throttled table or a bad deploy uses up in minutes, decides when it is given up
   * (docs/operations.md, "Retry settings").
   */
  retryAttempts: 10_000,
  /**
   * Records still failing at this age go to the dead-letter queue. A fault that lasts less heals with
   * no dead letter; a dead letter then has the stream's remaining 18 hours to be replayed
   * (`npm run replay-dead-letters`).
   */
  maxRecordAgeSeconds: 6 * 60 * 60,
  reportBatchItemFailures: true,
  /** Records of one counter must be applied in order: one batch per shard at a time. */
  parallelizationFactor: 1,
} as const;
