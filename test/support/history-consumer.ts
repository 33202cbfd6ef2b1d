import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { beforeAll } from 'vitest';
import {
  HISTORY_TABLE,
  historyKey,
  IDEMPOTENCY_TABLE,
  ROLLUPS_TABLE,
} from '../../functions/counter/table.ts';
import { ensureTable } from '../../lib/local/tables.ts';
import { type EngineHandle, LOCAL_CREDENTIALS, LOCAL_REGION } from './local-engine.ts';

export type StreamHandler = (event: DynamoDBStreamEvent, context?: Context) => Promise<DynamoDBBatchResponse>;

/** What `useHistoryConsumer` made: the consumer's handler and its tables' names. */
export interface HistoryConsumer {
  /** The real consumer (functions/stream/record-history.ts); set once `beforeAll` has run. */
  readonly handler: StreamHandler;
  readonly tables: { history: string; rollups: string; idempotency: string; checkpoints: string };
  /** One increment of `name` in the table `counters`, through the UpdateItem the service sends, so the stream carries a counter. */
  increment(counters: string, name: string, incarnation: string): Promise<void>;
  /** The versions in the history of `name` (of that incarnation), read consistently. */
  versionsOf(name: string, incarnation: string): Promise<number[]>;
}

/**
 * The real history consumer on the engine of `local`, as the local poller runs it: in `beforeAll`,
 * makes `<prefix>-history`, `-rollups`, `-idempotency` and a poller's `-checkpoints` table, points the
 * consumer's environment at them (this process's: the consumer reads it at import), and imports it.
 * Call it after `useEngine`, so the engine has started first.
 */
export function useHistoryConsumer(local: EngineHandle, prefix: string): HistoryConsumer {
  const tables = {
    history: `${prefix}-history`,
    rollups: `${prefix}-rollups`,
    idempotency: `${prefix}-idempotency`,
    checkpoints: `${prefix}-checkpoints`,
  };
  let handler: StreamHandler | undefined;
  beforeAll(async () => {
    await ensureTable(local.raw, tables.history, HISTORY_TABLE);
    await ensureTable(local.raw, tables.rollups, ROLLUPS_TABLE);
    await ensureTable(local.raw, tables.idempotency, IDEMPOTENCY_TABLE);
    await ensureTable(local.raw, tables.checkpoints, {
      partitionKey: { name: 'id', type: 'S' },
      indexes: [],
    });
    Object.assign(process.env, {
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      DYNAMODB_ENDPOINT: local.endpoint,
      HISTORY_TABLE: tables.history,
      ROLLUPS_TABLE: tables.rollups,
      // Required at the consumer's import since keyed changes are witnessed.
      IDEMPOTENCY_TABLE: tables.idempotency,
      POWERTOOLS_LOG_LEVEL: 'CRITICAL',
    });
    ({ handler } = await import('../../functions/stream/record-history.ts'));
  });
  return {
    get handler(): StreamHandler {
      if (handler === undefined) throw new Error('the consumer is used before beforeAll imported it');
      return handler;
    },
    tables,
    async increment(counters, name, incarnation) {
      await local.documents.send(
        new UpdateCommand({
          TableName: counters,
          Key: { name },
          UpdateExpression:
            'ADD #value :one, #version :one SET created_at = if_not_exists(created_at, :now), updated_at = :now, ' +
            'op = :op, actor = :actor, incarnation = if_not_exists(incarnation, :inc), kind = if_not_exists(kind, :kind)',
          ExpressionAttributeNames: { '#value': 'value', '#version': 'version' },
          ExpressionAttributeValues: {
            ':one': 1,
            ':now': new Date().toISOString(),
            ':op': 'increment',
            ':actor': 'arn:aws:iam::000000000000:user/test',
            ':inc': incarnation,
            ':kind': 'counter',
          },
        }),
      );
    },
    async versionsOf(name, incarnation) {
      const { Items = [] } = await local.documents.send(
        new QueryCommand({
          TableName: tables.history,
          KeyConditionExpression: '#counter = :key',
          ExpressionAttributeNames: { '#counter': 'counter' },
          ExpressionAttributeValues: { ':key': historyKey(name, incarnation) },
          ConsistentRead: true,
        }),
      );
      return Items.map((item) => Number(item.version));
    },
  };
}
