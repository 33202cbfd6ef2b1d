import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { retryPause } from '../shared/retry.ts';
import { AttemptFencedError } from './errors.ts';
import {
  CLAIM_LEASE_MS,
  type Claim,
  type IdempotencyRecord,
  type IdempotencyStore,
  RequestInFlightError,
  type StoredAnswer,
} from './idempotency.ts';
import {
  abandonUpdate,
  claimPut,
  completeUpdate,
  probedUpdate,
  reachUpdate,
  recordOf,
  releaseDelete,
  takeOverUpdate,
  witnessedUpdate,
} from './idempotency-table.ts';
import type { WitnessStore } from './keyed-witness.ts';

/** BatchGetItem takes at most 100 keys. */
const BATCH_GET_KEYS = 100;

/**
 * Idempotency records in their own table (idempotency-table.ts). The change functions claim, reach,
 * complete, release, abandon, read and take over; the stream consumer witnesses.
 */
export class DynamoIdempotencyStore implements IdempotencyStore, WitnessStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly table: string,
    /** How long a claim holds off a retry's recovery; longer than the function's timeout. */
    private readonly leaseMs: number = CLAIM_LEASE_MS,
  ) {}

  async claim(
    id: string,
    fingerprint: string,
    attempt: string,
    targets: string[],
    nowMs: number,
  ): Promise<Claim> {
    try {
      await this.client.send(
        new PutCommand(claimPut(this.table, { id, fingerprint, attempt, targets }, nowMs, this.leaseMs)),
      );
      return { kind: 'claimed' };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException) || error.Item === undefined) throw error;
      return { kind: 'existing', record: recordOf(unmarshall(error.Item)) };
    }
  }

  async reach(id: string, attempt: string, items: string[]): Promise<void> {
    try {
      await this.client.send(new UpdateCommand(reachUpdate(this.table, id, attempt, items)));
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new AttemptFencedError();
      throw error;
    }
  }

  async complete(id: string, owner: string, answer: StoredAnswer, nowMs: number): Promise<StoredAnswer> {
    try {
      await this.client.send(new UpdateCommand(completeUpdate(this.table, id, owner, answer, nowMs)));
      return answer;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // Stored first by the change's own transaction, or by another attempt: that answer stands.
      const record = error.Item === undefined ? undefined : recordOf(unmarshall(error.Item));
      if (record?.status === 'done' && record.answer !== undefined) return record.answer;
      throw new RequestInFlightError();
    }
  }

  async release(id: string, attempt: string): Promise<void> {
    await this.ifHeld(new DeleteCommand(releaseDelete(this.table, id, attempt)));
  }

  async abandon(id: string, attempt: string): Promise<void> {
    await this.ifHeld(new UpdateCommand(abandonUpdate(this.table, id, attempt)));
  }

  async read(id: string): Promise<IdempotencyRecord | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.table, Key: { id }, ConsistentRead: true }),
    );
    return Item === undefined ? undefined : recordOf(Item);
  }

  async takeOver(
    id: string,
    from: { attempt: string; targets: number },
    to: { attempt: string; targets: string[] },
    nowMs: number,
  ): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand(takeOverUpdate(this.table, id, from, to, nowMs, this.leaseMs)),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /**
   * The ids among `ids` whose record is done: nothing to witness there. An eventually consistent read,
   * which is enough: a record seen done is done for good; any other is settled by a conditional write.
   */
  async doneAmong(ids: readonly string[]): Promise<Set<string>> {
    const done = new Set<string>();
    const unique = [...new Set(ids)];
    for (let start = 0; start < unique.length; start += BATCH_GET_KEYS) {
      let keys = unique.slice(start, start + BATCH_GET_KEYS).map((id) => ({ id }));
      for (let attempt = 0; keys.length > 0; attempt++) {
        if (attempt > 0) await retryPause(attempt);
        const { Responses, UnprocessedKeys } = await this.client.send(
          new BatchGetCommand({
            RequestItems: {
              [this.table]: {
                Keys: keys,
                ProjectionExpression: 'id, #status',
                ExpressionAttributeNames: { '#status': 'status' },
              },
            },
          }),
        );
        for (const item of Responses?.[this.table] ?? [])
          if (item.status === 'done') done.add(String(item.id));
        keys = (UnprocessedKeys?.[this.table]?.Keys ?? []).map((key) => ({ id: String(key.id) }));
      }
    }
    return done;
  }

  async witnessed(id: string, attempt: string, counter: Record<string, unknown> | undefined): Promise<void> {
    await this.ifHeld(new UpdateCommand(witnessedUpdate(this.table, id, attempt, counter)));
  }

  async probed(id: string, attempt: string, item: string): Promise<void> {
    await this.ifHeld(new UpdateCommand(probedUpdate(this.table, id, attempt, item)));
  }

  /** A write conditioned on the attempt still holding the record: otherwise there is nothing to do. */
  private async ifHeld(command: UpdateCommand | DeleteCommand): Promise<void> {
    try {
      await this.client.send(command);
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}
