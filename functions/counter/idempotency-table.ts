import type { UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod/mini';
import { IDEMPOTENCY_TTL_SECONDS, type IdempotencyRecord, type StoredAnswer } from './idempotency.ts';
import { storedCounter } from './schema.ts';
import { EXPIRES_AT, IDEMPOTENCY_PARTITION_KEY } from './table.ts';

/**
 * The idempotency table's records and the requests that change them, in one place: the store
 * (dynamodb-idempotency-store.ts) sends them, the repository puts `sealedAnswer` in the transaction of
 * a change whose answer is known before it is made, and the stream consumer marks records with
 * `witnessed` and `probed` (keyed-witness.ts).
 *
 * Keys and TTL attribute: table.ts IDEMPOTENCY_TABLE. A record: fingerprint, status, owner (the attempt holding it),
 * lease_expires_at, targets and probed (string sets of counters-table keys), counter, answer.
 */
const storedRecord = z.object({
  id: z.string(),
  fingerprint: z.string(),
  minimal: z.optional(z.boolean()),
  status: z.enum(['in-flight', 'applied', 'done']),
  owner: z.string(),
  lease_expires_at: z.number(),
  targets: z.optional(z.set(z.string())),
  probed: z.optional(z.set(z.string())),
  counter: z.optional(storedCounter),
  answer: z.optional(
    z.object({ statusCode: z.number(), headers: z.record(z.string(), z.string()), body: z.string() }),
  ),
});

/** A record as the domain sees it, parsed from the item (unmarshalled). */
export function recordOf(item: unknown): IdempotencyRecord & { id: string } {
  const record = storedRecord.parse(item);
  return {
    id: record.id,
    fingerprint: record.fingerprint,
    minimal: record.minimal === true,
    status: record.status,
    owner: record.owner,
    leaseExpiresAt: record.lease_expires_at,
    targets: [...(record.targets ?? [])].sort(),
    probed: [...(record.probed ?? [])].sort(),
    counter: record.counter,
    answer: record.answer,
  };
}

export function expiresAt(nowMs: number): number {
  return Math.floor(nowMs / 1000) + IDEMPOTENCY_TTL_SECONDS;
}

const HELD_IN_FLIGHT = '#owner = :owner AND #status = :in_flight';
const HELD_NAMES = { '#owner': 'owner', '#status': 'status' };

export function claimPut(
  table: string,
  record: { id: string; fingerprint: string; attempt: string; targets: string[]; minimal: boolean },
  nowMs: number,
  leaseMs: number,
) {
  return {
    TableName: table,
    Item: {
      id: record.id,
      fingerprint: record.fingerprint,
      // Only when asked, so a record is no larger for the usual request.
      ...(record.minimal ? { minimal: true } : {}),
      status: 'in-flight',
      owner: record.attempt,
      lease_expires_at: nowMs + leaseMs,
      targets: new Set(record.targets),
      [EXPIRES_AT]: expiresAt(nowMs),
    },
    // A live record wins; an expired one (TTL deletes lazily) is replaced.
    ConditionExpression: `attribute_not_exists(${IDEMPOTENCY_PARTITION_KEY}) OR ${EXPIRES_AT} < :now_s`,
    ExpressionAttributeValues: { ':now_s': Math.floor(nowMs / 1000) },
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
  };
}

/** More items the attempt may write, recorded before it writes them. */
export function reachUpdate(table: string, id: string, attempt: string, items: string[]): UpdateCommandInput {
  return {
    TableName: table,
    Key: { id },
    UpdateExpression: 'ADD #targets :items',
    ConditionExpression: HELD_IN_FLIGHT,
    ExpressionAttributeNames: { ...HELD_NAMES, '#targets': 'targets' },
    ExpressionAttributeValues: { ':items': new Set(items), ':owner': attempt, ':in_flight': 'in-flight' },
  };
}

/** The answer of the record `owner` holds, in flight or applied; on refusal, the record as it is. */
export function completeUpdate(
  table: string,
  id: string,
  owner: string,
  answer: StoredAnswer,
  nowMs: number,
): UpdateCommandInput {
  return {
    TableName: table,
    Key: { id },
    UpdateExpression: `SET #status = :done, #answer = :answer, ${EXPIRES_AT} = :expires REMOVE #counter`,
    ConditionExpression: '#owner = :owner AND #status IN (:in_flight, :applied)',
    ExpressionAttributeNames: { ...HELD_NAMES, '#answer': 'answer', '#counter': 'counter' },
    ExpressionAttributeValues: {
      ':done': 'done',
      ':answer': answer,
      ':expires': expiresAt(nowMs),
      ':owner': owner,
      ':in_flight': 'in-flight',
      ':applied': 'applied',
    },
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  };
}

/** The answer written in the transaction of the change itself: it lands with the change or not at all. */
export function sealedAnswer(
  table: string,
  id: string,
  attempt: string,
  answer: StoredAnswer,
  nowMs: number,
): { Update: UpdateCommandInput } {
  return {
    Update: {
      TableName: table,
      Key: { id },
      UpdateExpression: `SET #status = :done, #answer = :answer, ${EXPIRES_AT} = :expires`,
      ConditionExpression: HELD_IN_FLIGHT,
      ExpressionAttributeNames: { ...HELD_NAMES, '#answer': 'answer' },
      ExpressionAttributeValues: {
        ':done': 'done',
        ':answer': answer,
        ':expires': expiresAt(nowMs),
        ':owner': attempt,
        ':in_flight': 'in-flight',
      },
    },
  };
}

export function releaseDelete(table: string, id: string, attempt: string) {
  return {
    TableName: table,
    Key: { id },
    ConditionExpression: HELD_IN_FLIGHT,
    ExpressionAttributeNames: HELD_NAMES,
    ExpressionAttributeValues: { ':owner': attempt, ':in_flight': 'in-flight' },
  };
}

export function abandonUpdate(table: string, id: string, attempt: string): UpdateCommandInput {
  return {
    TableName: table,
    Key: { id },
    UpdateExpression: 'SET lease_expires_at = :over',
    ConditionExpression: HELD_IN_FLIGHT,
    ExpressionAttributeNames: HELD_NAMES,
    ExpressionAttributeValues: { ':over': 0, ':owner': attempt, ':in_flight': 'in-flight' },
  };
}

export function takeOverUpdate(
  table: string,
  id: string,
  from: { attempt: string; targets: number },
  to: { attempt: string; targets: string[] },
  nowMs: number,
  leaseMs: number,
): UpdateCommandInput {
  return {
    TableName: table,
    Key: { id },
    UpdateExpression: 'SET #owner = :to, lease_expires_at = :lease, #targets = :targets REMOVE #probed',
    ConditionExpression: `${HELD_IN_FLIGHT} AND size(#targets) = :count`,
    ExpressionAttributeNames: { ...HELD_NAMES, '#targets': 'targets', '#probed': 'probed' },
    ExpressionAttributeValues: {
      ':to': to.attempt,
      ':lease': nowMs + leaseMs,
      ':targets': new Set(to.targets),
      ':owner': from.attempt,
      ':in_flight': 'in-flight',
      ':count': from.targets,
    },
  };
}

/**
 * The consumer saw the attempt's write land while the record was in flight: applied, with the
 * counter right after it when that item alone holds it.
 */
export function witnessedUpdate(
  table: string,
  id: string,
  attempt: string,
  counter: Record<string, unknown> | undefined,
): UpdateCommandInput {
  return {
    TableName: table,
    Key: { id },
    UpdateExpression: `SET #status = :applied${counter === undefined ? '' : ', #counter = :counter'}`,
    ConditionExpression: HELD_IN_FLIGHT,
    ExpressionAttributeNames: { ...HELD_NAMES, ...(counter === undefined ? {} : { '#counter': 'counter' }) },
    ExpressionAttributeValues: {
      ':applied': 'applied',
      ':owner': attempt,
      ':in_flight': 'in-flight',
      ...(counter === undefined ? {} : { ':counter': counter }),
    },
  };
}

/** The consumer passed a probe of `item` for the attempt without having seen its write there. */
export function probedUpdate(table: string, id: string, attempt: string, item: string): UpdateCommandInput {
  return {
    TableName: table,
    Key: { id },
    UpdateExpression: 'ADD #probed :item',
    ConditionExpression: HELD_IN_FLIGHT,
    ExpressionAttributeNames: { ...HELD_NAMES, '#probed': 'probed' },
    ExpressionAttributeValues: { ':item': new Set([item]), ':owner': attempt, ':in_flight': 'in-flight' },
  };
}
