import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { type ChangePublisher, changeEventsOf } from '../counter/change-events.ts';
import { DynamoHistoryStore } from '../counter/dynamodb-history-store.ts';
import { DynamoIdempotencyStore } from '../counter/dynamodb-idempotency-store.ts';
import { EventBridgePublisher } from '../counter/eventbridge-publisher.ts';
import { type BatchOutcome, recordHistory, type StreamChange } from '../counter/history-recorder.ts';
import type { HistoryStore } from '../counter/history-store.ts';
import { type WitnessStore, witness } from '../counter/keyed-witness.ts';
import { isThrottling } from '../platform/aws-errors.ts';
import { documentClient } from '../platform/dynamodb.ts';
import { optionalEnv, requireEnv } from '../platform/env.ts';
import { logger } from '../platform/logger.ts';

const retention = optionalEnv('HISTORY_RETENTION_DAYS');
const store = new DynamoHistoryStore(
  documentClient(),
  { history: requireEnv('HISTORY_TABLE'), rollups: requireEnv('ROLLUPS_TABLE') },
  { retentionDays: retention === undefined ? undefined : Number(retention) },
);
const records = new DynamoIdempotencyStore(documentClient(), requireEnv('IDEMPOTENCY_TABLE'));

/** The bus change events go to (name or ARN), when the stack turns them on (its `changeEvents` prop). */
const eventBus = optionalEnv('CHANGE_EVENTS_BUS');

/**
 * The counters table's stream -> the keyed changes' records, then the history table, then (when on)
 * one change event per change recorded. Reports the first record not fully handled, so Lambda retries
 * the batch from there (ReportBatchItemFailures) and, after its retries, sends the rest of the batch's
 * description to the dead-letter queue.
 */
export const handler = consumer(
  eventBus === undefined ? undefined : new EventBridgePublisher(new EventBridgeClient({}), eventBus),
);

/**
 * The consumer, publishing change events through `publisher` (none: no events). The local server
 * passes one that writes a file (lib/local/events-file.ts); tests pass stores of their own.
 */
export function consumer(
  publisher: ChangePublisher | undefined,
  stores: { history: HistoryStore; records: WitnessStore } = { history: store, records },
): (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse> {
  return async (event) => {
    const changes = event.Records.map(toChange);
    // Keyed changes first (keyed-witness.ts): the history of a change is written only once what it
    // says of its keyed attempt is recorded, so "everything before the failed record is done" holds.
    const witnessed = await witness(stores.records, changes);
    const upTo = witnessed.failedIndex ?? changes.length;
    const outcome = await recordHistory(stores.history, changes.slice(0, upTo));
    let stop: Stop = { at: upTo, error: witnessed.error, stage: 'keyed records' };
    if (outcome.failedId !== undefined) {
      const at = Math.max(
        0,
        changes.findIndex((change) => change.id === outcome.failedId),
      );
      stop = { at, error: outcome.error, stage: 'history' };
    }
    if (publisher !== undefined) stop = (await publish(publisher, outcome, stop)) ?? stop;
    const failedId = stop.at < changes.length ? changes[stop.at]?.id : undefined;
    if (failedId !== undefined) {
      // A throttled table is back-pressure that the retry absorbs (the iterator-age alarm watches the
      // lag); anything else is an error.
      const log = isThrottling(stop.error) ? logger.warn.bind(logger) : logger.error.bind(logger);
      log('history batch stopped at a record', { failedId, stage: stop.stage, error: stop.error });
      return { batchItemFailures: [{ itemIdentifier: failedId }] };
    }
    logger.debug('history batch recorded', {
      written: outcome.written,
      duplicates: outcome.duplicates,
      purged: outcome.purged,
      events: publisher === undefined ? 0 : outcome.recorded.length,
      records: changes.length,
    });
    return { batchItemFailures: [] };
  };
}

/** Where a batch stops (its index; the batch's length when it does not), why, and at which stage. */
interface Stop {
  at: number;
  error: unknown;
  stage: 'keyed records' | 'history' | 'change events';
}

/**
 * Publishes the events of the changes recorded before `stop` (from it on, changes are delivered
 * again, and their events published then). Answers the earlier stop at the first event not published.
 */
async function publish(
  publisher: ChangePublisher,
  outcome: BatchOutcome,
  stop: Stop,
): Promise<Stop | undefined> {
  const recorded = outcome.recorded.filter((change) => change.index < stop.at);
  const result = await publisher.publish(changeEventsOf(recorded, () => new Date().toISOString()));
  const unpublished = result.failedIndex === undefined ? undefined : recorded[result.failedIndex];
  // Delivered again from here, the history is skipped by version (written once) and the events are
  // published again (at least once).
  return unpublished === undefined
    ? undefined
    : { at: unpublished.index, error: result.error, stage: 'change events' };
}

function toChange(record: DynamoDBRecord): StreamChange {
  const id = record.dynamodb?.SequenceNumber ?? '';
  // Lambda sends the creation time as epoch seconds.
  const created = record.dynamodb?.ApproximateCreationDateTime;
  return {
    id,
    oldImage: image(record.dynamodb?.OldImage),
    newImage: image(record.dynamodb?.NewImage),
    at:
      typeof created === 'number' && Number.isFinite(created)
        ? new Date(created * 1000).toISOString()
        : undefined,
  };
}

function image(attributes: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  // The event's images are DynamoDB JSON, the same wire shape the SDK reads.
  return attributes === undefined ? undefined : unmarshall(attributes as Record<string, AttributeValue>);
}
