import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll } from 'vitest';
import { DynamoCounterRepository } from '../../functions/counter/dynamodb-repository.ts';
import { COUNTERS_TABLE } from '../../functions/counter/table.ts';
import { type Engine, startEngine } from '../../lib/local/engine.ts';
import { ensureTable } from '../../lib/local/tables.ts';
import { counterRepositoryContract } from '../support/counter-repository-contract.ts';

// DynamoDB's repository on the local engine, held to the same suite as the in-memory twin
// (test/unit/in-memory-repository.contract.test.ts): a fresh counters table for each test.
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

counterRepositoryContract('DynamoDB on the local engine', async () => {
  const counters = `contract-counters-${++tables}`;
  await ensureTable(client, counters, COUNTERS_TABLE);
  return new DynamoCounterRepository(client, { counters, history: 'unused', rollups: 'unused' });
});
