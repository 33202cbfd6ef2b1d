import { Logger } from '@aws-lambda-powertools/logger';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { DynamoHistoryStore } from '../counter/dynamodb-history-store.ts';
import { DynamoIdempotencyStore } from '../counter/dynamodb-idempotency-store.ts';
import { witness } from '../counter/keyed-witness.ts';
import { recordHistory, type StreamChange } from '../counter/record-history.ts';
import { isThrottling } from '../platform/aws-errors.ts';
import { documentClient } from '../platform/dynamodb.ts';
import { optionalEnv, requireEnv } from '../platform/env.ts';

export const logger = new Logger({ serviceName: 'counter-service' });
const retention = optionalEnv('HISTORY_RETENTION_DAYS');
const store = new DynamoHistoryStore(
  documentClient(),
  { history: requireEnv('HISTORY_TABLE'), rollups: requireEnv('ROLLUPS_TABLE') },
  { retentionDays: retention === undefined ? undefined : Number(retention) },
);
const records = new DynamoIdempotencyStore(documentClient(), requireEnv('IDEMPOTENCY_TABLE'));

/**
 * The counters table's stream -> the keyed changes' records, then the history table. Reports the
 * first failed record, so Lambda retries the batch from there (ReportBatchItemFailures) and, after
 * its retries, sends the rest of the batch's description to the dead-letter queue.
 */
export async function handler(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
  const changes = event.Records.map(toChange);
  // Keyed changes first (keyed-witness.ts): the history of a change is written only once what it
  // says of its keyed attempt is recorded, so "everything before the failed record is done" holds.
  const witnessed = await witness(records, changes);
  const upTo = witnessed.failedIndex ?? changes.length;
  const outcome = await recordHistory(store, changes.slice(0, upTo));
  const failedId = outcome.failedId ?? (upTo < changes.length ? changes[upTo]?.id : undefined);
  if (failedId !== undefined) {
    const error = outcome.failedId === undefined ? witnessed.error : outcome.error;
    // A throttled table is back-pressure that the retry absorbs (the iterator-age alarm watches the
    // lag); anything else is an error.
    const log = isThrottling(error) ? logger.warn.bind(logger) : logger.error.bind(logger);
    log('history batch stopped at a record', { failedId, error });
    return { batchItemFailures: [{ itemIdentifier: failedId }] };
  }
  logger.debug('history batch recorded', { ...outcome, records: changes.length });
  return { batchItemFailures: [] };
}

function toChange(record: DynamoDBRecord): StreamChange {
  const id = record.dynamodb?.SequenceNumber ?? '';
  return { id, oldImage: image(record.dynamodb?.OldImage), newImage: image(record.dynamodb?.NewImage) };
}

function image(attributes: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  // The event's images are DynamoDB JSON, the same wire shape the SDK reads.
  return attributes === undefined ? undefined : unmarshall(attributes as Record<string, AttributeValue>);
}
