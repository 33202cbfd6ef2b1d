import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DeleteCommandInput,
  type DynamoDBDocumentClient,
  GetCommand,
  TransactGetCommand,
  TransactWriteCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { isTransactionConflict } from '../shared/aws-errors.ts';
import { retryPause } from '../shared/retry.ts';
import { type Item, type Rule, refusalOf } from './change-rules.ts';
import { type Guarded, probeUpdate, type TransactItem } from './counter-writes.ts';
import { AttemptFencedError, CounterBusyError } from './errors.ts';
import { isProbeOnly } from './history.ts';
import type { Outcome } from './idempotency.ts';
import { sealedAnswer } from './idempotency-table.ts';
import { probeValue } from './keyed-witness.ts';
import type { KeyedAttempt } from './repository.ts';
import { type StoredCounter, storedCounter } from './schema.ts';

/**
 * Tries of a write that DynamoDB refused because another transaction held its item
 * (TransactionConflict): it changed nothing, so it is tried again after a jittered pause.
 */
const CONFLICT_ATTEMPTS = 8;
/** The back-off between those tries: up to 20 ms, 40, 80 ... 1 s, about 2.5 s in all at most. */
const CONFLICT_BACKOFF = { baseMs: 10, capMs: 1_000 };

/**
 * The counters table as the repository sends to it: the writes counter-writes.ts builds, a refusal
 * named by the rule the item broke, another transaction's hold waited out, and a keyed change's
 * answer written in the change's own transaction. Plain and sharded counters (sharded-counters.ts)
 * both write through it.
 */
export class CounterTable {
  /**
   * @param client reads and deletes, with the SDK's standard retries
   * @param changes increments and sets, which must not be sent again after an ambiguous failure
   *   (functions/shared/dynamodb.ts)
   */
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly changes: DynamoDBDocumentClient,
    readonly name: string,
    private readonly idempotencyTable: () => string | undefined,
  ) {}

  /** One item, read consistently; undefined when absent. */
  async item(key: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.name, Key: { name: key }, ConsistentRead: true }),
    );
    return Item;
  }

  /** Several items in one serializable snapshot, in order (an absent one undefined). */
  async snapshot(keys: readonly string[]): Promise<(Record<string, unknown> | undefined)[]> {
    const { Responses = [] } = await this.client.send(
      new TransactGetCommand({
        TransactItems: keys.map((key) => ({ Get: { TableName: this.name, Key: { name: key } } })),
      }),
    );
    return keys.map((_, index) => Responses[index]?.Item);
  }

  /** A counter's UpdateItem; the counter after it (ALL_NEW). */
  async update(counter: string, write: Guarded<UpdateCommandInput>): Promise<StoredCounter> {
    return storedCounter.parse(await this.updateItem(counter, write));
  }

  /** An UpdateItem of any of a counter's items; a refusal is named by the rule its item (ALL_OLD) broke. */
  async updateItem(counter: string, write: Guarded<UpdateCommandInput>): Promise<Record<string, unknown>> {
    try {
      const { Attributes } = await this.retryingConflicts(counter, () =>
        this.changes.send(new UpdateCommand(write.request)),
      );
      return Attributes ?? {};
    } catch (error) {
      throw explain(error, write.rules);
    }
  }

  /** A plain counter's DeleteItem; a refusal named by its rule. */
  async delete(write: Guarded<DeleteCommandInput>): Promise<void> {
    try {
      await this.client.send(new DeleteCommand(write.request));
    } catch (error) {
      throw explain(error, write.rules);
    }
  }

  /**
   * A TransactWriteItems of a counter's items, tried again while only other transactions stood in its
   * way. With a keyed attempt, the answer goes in the same transaction (KeyedAttempt.answer) and the
   * record's condition fences the attempt: the change lands with its answer or not at all.
   */
  async transact(
    counter: string,
    items: TransactItem[],
    attempt?: KeyedAttempt | undefined,
    outcome: Outcome = { kind: 'deleted' },
  ): Promise<void> {
    const all = attempt === undefined ? items : [...items, this.answer(attempt, outcome)];
    try {
      await this.retryingConflicts(counter, () =>
        this.changes.send(new TransactWriteCommand({ TransactItems: all })),
      );
    } catch (error) {
      const record = attempt === undefined ? undefined : cancellation(error)?.at(-1);
      if (record?.Code === 'ConditionalCheckFailed') throw new AttemptFencedError();
      throw error;
    }
  }

  /** Fences `attempt` off each item, with a probe the stream carries after every earlier write of it. */
  async fence(items: readonly string[], recordId: string, attempt: string): Promise<void> {
    const probe = probeValue(recordId, attempt, randomUUID());
    await Promise.all(
      items.map((item) =>
        this.client.send(new UpdateCommand(probeUpdate(this.name, item, recordId, attempt, probe))),
      ),
    );
  }

  private answer(attempt: KeyedAttempt, outcome: Outcome): TransactItem {
    const table = this.idempotencyTable();
    if (table === undefined) throw new Error('keyed changes need the idempotency table');
    return sealedAnswer(
      table,
      attempt.id,
      attempt.attempt,
      attempt.answer(outcome),
      Date.now(),
    ) as TransactItem;
  }

  /** Runs `send` again, after a jittered pause, while DynamoDB answers that another transaction held the item. */
  private async retryingConflicts<T>(counter: string, send: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await send();
      } catch (error) {
        if (!isTransactionConflict(error)) throw error;
        if (attempt >= CONFLICT_ATTEMPTS) throw new CounterBusyError(counter);
        await retryPause(attempt, CONFLICT_BACKOFF);
      }
    }
  }
}

/** A counter from a counters-table item; undefined for none, or for an item holding only a recovery's probe. */
export function counterOf(item: Record<string, unknown> | undefined): StoredCounter | undefined {
  return item === undefined || isProbeOnly(item) ? undefined : storedCounter.parse(item);
}

/** The reasons DynamoDB gave for cancelling a transaction, if that is what the error is. */
function cancellation(
  error: unknown,
): { Code?: string | undefined; Item?: Record<string, AttributeValue> | undefined }[] | undefined {
  return error instanceof TransactionCanceledException ? (error.CancellationReasons ?? []) : undefined;
}

/**
 * A write refused by its condition, as the rule the item broke (its ALL_OLD image; in a transaction,
 * the item at `position`'s); any other error as it is.
 */
export function explain(error: unknown, rules: readonly Rule[], position = 0): unknown {
  const reason = cancellation(error)?.[position];
  const refused =
    error instanceof ConditionalCheckFailedException
      ? { item: error.Item }
      : reason?.Code === 'ConditionalCheckFailed'
        ? { item: reason.Item }
        : undefined;
  if (refused === undefined) return error;
  const item: Item | undefined = refused.item === undefined ? undefined : unmarshall(refused.item);
  return refusalOf(rules, item) ?? error;
}
