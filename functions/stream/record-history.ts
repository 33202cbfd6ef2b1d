import { Logger } from '@aws-lambda-powertools/logger';
import { type AttributeValue, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { DynamoHistoryStore } from '../counter/dynamodb-history-store.ts';
import { recordHistory, type StreamChange } from '../counter/record-history.ts';
import { documentClient } from '../shared/dynamodb.ts';
import { optionalEnv, requireEnv } from '../shared/env.ts';

export const logger = new Logger({ serviceName: 'counter-service' });
const retention = optionalEnv('HISTORY_RETENTION_DAYS');
const store = new DynamoHistoryStore(
  documentClient(),
  { history: requireEnv('HISTORY_TABLE'), rollups: requireEnv('ROLLUPS_TABLE') },
  { retentionDays: retention === undefined ? undefined : Number(retention) },
);

/**
 * The counters table's stream -> the history table. Reports the first failed record, so Lambda
 * retries the batch from there (ReportBatchItemFailures) and, after its retries, sends the rest of
 * the batch's description to the dead-letter queue.
 */
export async function handler(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
  const changes = event.Records.map(toChange);
  const outcome = await recordHistory(store, changes);
  if (outcome.failedId !== undefined) {
    // A throttled table is back-pressure that the retry absorbs (the iterator-age alarm watches the
    // lag); anything else is an error.
    const log = throttled(outcome.error) ? logger.warn.bind(logger) : logger.error.bind(logger);
    log('history batch stopped at a record', { failedId: outcome.failedId, error: outcome.error });
    return { batchItemFailures: [{ itemIdentifier: outcome.failedId }] };
  }
  logger.debug('history batch recorded', { ...outcome, records: changes.length });
  return { batchItemFailures: [] };
}

function throttled(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'ProvisionedThroughputExceededException' || error.name === 'ThrottlingException')
    return true;
  return (
    error instanceof TransactionCanceledException &&
    (error.CancellationReasons ?? []).some((reason) => reason.Code === 'ThrottlingError')
  );
}

function toChange(record: DynamoDBRecord): StreamChange {
  const id = record.dynamodb?.SequenceNumber ?? '';
  return { id, oldImage: image(record.dynamodb?.OldImage), newImage: image(record.dynamodb?.NewImage) };
}

function image(attributes: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  // The event's images are DynamoDB JSON, the same wire shape the SDK reads.
  return attributes === undefined ? undefined : unmarshall(attributes as Record<string, AttributeValue>);
}
