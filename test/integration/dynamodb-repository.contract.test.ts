import { DynamoCounterRepository } from '../../functions/counter/dynamodb-repository.ts';
import { COUNTERS_TABLE } from '../../functions/counter/table.ts';
import { ensureTable } from '../../lib/local/tables.ts';
import { counterRepositoryContract } from '../support/counter-repository-contract.ts';
import { useEngine } from '../support/local-engine.ts';

// DynamoDB's repository on the local engine, held to the same suite as the in-memory twin
// (test/unit/in-memory-repository.contract.test.ts): a fresh counters table for each test.
const local = useEngine({ documents: { marshallOptions: { removeUndefinedValues: true } } });
let tables = 0;

counterRepositoryContract('DynamoDB on the local engine', async () => {
  const counters = `contract-counters-${++tables}`;
  await ensureTable(local.documents, counters, COUNTERS_TABLE);
  return new DynamoCounterRepository(local.documents, { counters, history: 'unused', rollups: 'unused' });
});
