import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll } from 'vitest';
import { DynamoHistoryStore } from '../../functions/counter/dynamodb-history-store.ts';
import { HISTORY_TABLE, ROLLUPS_TABLE } from '../../functions/counter/table.ts';
import { type Engine, startEngine } from '../../lib/local/engine.ts';
import { ensureTable } from '../../lib/local/tables.ts';
import { historyStoreContract } from '../support/history-store-contract.ts';

// DynamoDB's history store on the local engine, held to the same suite as the in-memory twin
// (test/unit/in-memory-history-store.contract.test.ts): fresh history and rollups tables for each test.
let engine: Engine;
let client: DynamoDBDocumentClient;
let tables = 0;

beforeAll(async () => {
  engine = await startEngine({});
  client = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: engine.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
    { marshallOptions: { removeUndefinedValues: true } },
  );
});

afterAll(async () => {
  client.destroy();
  await engine.stop();
});

historyStoreContract('DynamoDB on the local engine', async () => {
  const suffix = ++tables;
  const names = { history: `contract-history-${suffix}`, rollups: `contract-rollups-${suffix}` };
  await ensureTable(client, names.history, HISTORY_TABLE);
  await ensureTable(client, names.rollups, ROLLUPS_TABLE);
  return new DynamoHistoryStore(client, names);
});
