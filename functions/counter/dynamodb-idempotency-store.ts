import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { AttemptFencedError, RequestInFlightError } from './errors.ts';
import {
  CLAIM_LEASE_MS,
  type Claim,
  type IdempotencyRecord,
  type IdempotencyStore,
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
    claim: { id: string; fingerprint: string; attempt: string; targets: string[]; minimal: boolean },
    nowMs: number,
  ): Promise<Claim> {
    try {
      await this.client.send(new PutCommand(claimPut(this.table, claim, nowMs, this.leaseMs)));
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
