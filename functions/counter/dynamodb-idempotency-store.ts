import {
  type AttributeValue,
  ConditionalCheckFailedException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import * as z from 'zod/mini';
import { counterUpdate, shardedCreation, shardedRoot, shardedWrites } from './dynamodb-repository.ts';
import {
  CLAIM_LEASE_MS,
  type Claim,
  IDEMPOTENCY_TTL_SECONDS,
  type IdempotencyStore,
  type PlannedChange,
  RequestInFlightError,
  type StoredAnswer,
} from './idempotency.ts';

const storedRecord = z.object({
  fingerprint: z.string(),
  status: z.enum(['in-flight', 'applied', 'done']),
  owner: z.string(),
  lease_expires_at: z.number(),
  answer: z.optional(
    z.object({ statusCode: z.number(), headers: z.record(z.string(), z.string()), body: z.string() }),
  ),
});

/**
 * Idempotency records in their own table (pk `id`, TTL on `expires_at`), written with the counter
 * change in one TransactWriteItems.
 */
export class DynamoIdempotencyStore implements IdempotencyStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tables: { counters: string; idempotency: string },
    /** How long a claim holds off duplicates; must exceed the function's timeout. */
    private readonly leaseMs: number = CLAIM_LEASE_MS,
  ) {}

  async claim(id: string, fingerprint: string, owner: string, nowMs: number): Promise<Claim> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tables.idempotency,
          Item: {
            id,
            fingerprint,
            status: 'in-flight',
            owner,
            lease_expires_at: nowMs + this.leaseMs,
            expires_at: expiresAt(nowMs),
          },
          // A live record wins; an expired one (TTL deletes lazily) or an abandoned claim is taken over.
          ConditionExpression:
            'attribute_not_exists(id) OR expires_at < :now_s OR (#status = :in_flight AND lease_expires_at < :now_ms)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':now_s': Math.floor(nowMs / 1000),
            ':now_ms': nowMs,
            ':in_flight': 'in-flight',
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { kind: 'claimed' };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException) || error.Item === undefined) throw error;
      const record = storedRecord.parse(unmarshall(error.Item));
      return {
        kind: 'existing',
        record: {
          fingerprint: record.fingerprint,
          status: record.status,
          owner: record.owner,
          leaseExpiresAt: record.lease_expires_at,
          answer: record.answer,
        },
      };
    }
  }

  async commit(
    id: string,
    owner: string,
    change: PlannedChange,
    answer: StoredAnswer | undefined,
    nowMs: number,
  ): Promise<'committed' | 'stale' | 'lost' | 'out-of-range'> {
    const writes = this.counterWrites(change);
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            ...writes,
            answer === undefined
              ? this.recordApplied(id, owner)
              : this.recordAnswer(id, owner, answer, nowMs),
          ],
        }),
      );
      return 'committed';
    } catch (error) {
      if (error instanceof TransactionCanceledException) {
        // The counter's writes come first, the record last.
        const reasons = error.CancellationReasons ?? [];
        const record = reasons.at(-1);
        const counter = reasons.slice(0, -1);
        if (record?.Code === 'ConditionalCheckFailed') return 'lost';
        if (this.refusedByShardRange(change, writes, counter)) return 'out-of-range';
        // The counter moved since it was read, or another transaction held it: plan again.
        if (
          counter.some(
            (reason) => reason.Code === 'ConditionalCheckFailed' || reason.Code === 'TransactionConflict',
          )
        )
          return 'stale';
        if (record?.Code === 'TransactionConflict') return 'stale';
      }
      if (error instanceof Error && error.name === 'TransactionConflictException') return 'stale';
      throw error;
    }
  }

  async settle(id: string, answer: StoredAnswer, nowMs: number): Promise<StoredAnswer> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tables.idempotency,
          Key: { id },
          UpdateExpression: 'SET #status = :done, #answer = :answer, expires_at = :expires',
          ConditionExpression: '#status = :applied',
          ExpressionAttributeNames: { '#status': 'status', '#answer': 'answer' },
          ExpressionAttributeValues: {
            ':done': 'done',
            ':answer': answer,
            ':expires': expiresAt(nowMs),
            ':applied': 'applied',
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return answer;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // Another attempt settled it first: its answer stands.
      const record = error.Item === undefined ? undefined : storedRecord.parse(unmarshall(error.Item));
      if (record?.status === 'done' && record.answer !== undefined) return record.answer;
      throw new RequestInFlightError();
    }
  }

  async complete(id: string, owner: string, answer: StoredAnswer, nowMs: number): Promise<void> {
    try {
      await this.client.send(new UpdateCommand(this.recordAnswer(id, owner, answer, nowMs).Update));
    } catch (error) {
      // Our claim was taken over: the other attempt's answer stands, and the caller should ask again.
      if (error instanceof ConditionalCheckFailedException) throw new RequestInFlightError();
      throw error;
    }
  }

  async release(id: string, owner: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tables.idempotency,
          Key: { id },
          ConditionExpression: '#owner = :owner AND #status = :in_flight',
          ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status' },
          ExpressionAttributeValues: { ':owner': owner, ':in_flight': 'in-flight' },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  /**
   * Whether a sharded increment failed on its shard's range alone: the shard came back (ALL_OLD) as
   * the change saw it, in its incarnation (and at its version, with If-Match).
   */
  private refusedByShardRange(
    change: PlannedChange,
    writes: Record<string, unknown>[],
    reasons: { Code?: string | undefined; Item?: Record<string, AttributeValue> | undefined }[],
  ): boolean {
    if (change.kind !== 'increment' || change.seen?.shardVersions === undefined) return false;
    const at = writes.findIndex((write) => 'Update' in write);
    const reason = reasons[at];
    if (reason?.Code !== 'ConditionalCheckFailed' || reason.Item === undefined) return false;
    const shard = unmarshall(reason.Item);
    if (shard.incarnation !== change.seen.incarnation) return false;
    // Shards 1..N-1 carry their index; the counter's own item is shard 0.
    const index = typeof shard.shard === 'number' ? shard.shard : 0;
    return change.input.expectedVersion === undefined || shard.version === change.seen.shardVersions[index];
  }

  /** The counter writes of a change, in the transaction before the record. */
  private counterWrites(change: PlannedChange): Record<string, unknown>[] {
    const versions = change.seen?.shardVersions;
    if (change.kind === 'set' && change.input.shards !== undefined && change.input.shards > 1) {
      // Creates the counter only if the name is free, as `seen` (undefined) says.
      return shardedCreation(this.tables.counters, shardedRoot(change.input, change.input.shards));
    }
    if (change.kind !== 'set' && change.seen !== undefined && versions !== undefined) {
      const exact =
        (change.kind === 'increment' ? change.input.expectedVersion : change.expectedVersion) !== undefined;
      const counter = {
        name: change.kind === 'increment' ? change.input.name : change.name,
        incarnation: change.seen.incarnation,
        shards: versions.length,
        versions: exact ? versions : undefined,
      };
      return shardedWrites(
        this.tables.counters,
        counter,
        change.kind === 'increment'
          ? { kind: 'increment', input: change.input, index: Math.floor(Math.random() * versions.length) }
          : { kind: 'delete' },
      );
    }
    return [this.counterWrite(change)];
  }

  private counterWrite(change: PlannedChange) {
    // Exactly the state the answer was planned from, so the answer is exactly what this change did.
    const seen =
      change.seen === undefined
        ? { condition: 'attribute_not_exists(#value)', values: {} }
        : {
            condition: '#version = :seen AND #incarnation = :seen_incarnation',
            values: { ':seen': change.seen.version, ':seen_incarnation': change.seen.incarnation },
          };
    if (change.kind === 'delete') {
      return {
        Delete: {
          TableName: this.tables.counters,
          Key: { name: change.name },
          ConditionExpression: seen.condition,
          ExpressionAttributeNames: { '#version': 'version', '#incarnation': 'incarnation' },
          ExpressionAttributeValues: seen.values,
        },
      };
    }
    const update =
      change.kind === 'increment'
        ? counterUpdate('increment', change.input)
        : counterUpdate('set', change.input);
    return {
      Update: {
        TableName: this.tables.counters,
        Key: { name: change.input.name },
        ...update,
        ConditionExpression: seen.condition,
        ExpressionAttributeValues: { ...update.ExpressionAttributeValues, ...seen.values },
      },
    };
  }

  /** The change is committed; its answer is read after, then settled. */
  private recordApplied(id: string, owner: string) {
    return {
      Update: {
        TableName: this.tables.idempotency,
        Key: { id },
        UpdateExpression: 'SET #status = :applied',
        ConditionExpression: '#owner = :owner AND #status = :in_flight',
        ExpressionAttributeNames: { '#status': 'status', '#owner': 'owner' },
        ExpressionAttributeValues: { ':applied': 'applied', ':owner': owner, ':in_flight': 'in-flight' },
      },
    };
  }

  private recordAnswer(id: string, owner: string, answer: StoredAnswer, nowMs: number) {
    return {
      Update: {
        TableName: this.tables.idempotency,
        Key: { id },
        UpdateExpression: 'SET #status = :done, #answer = :answer, expires_at = :expires',
        ConditionExpression: '#owner = :owner AND #status = :in_flight',
        ExpressionAttributeNames: { '#status': 'status', '#answer': 'answer', '#owner': 'owner' },
        ExpressionAttributeValues: {
          ':done': 'done',
          ':answer': answer,
          ':expires': expiresAt(nowMs),
          ':owner': owner,
          ':in_flight': 'in-flight',
        },
      },
    };
  }
}

function expiresAt(nowMs: number): number {
  return Math.floor(nowMs / 1000) + IDEMPOTENCY_TTL_SECONDS;
}
