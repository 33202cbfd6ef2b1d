import { DynamoHistoryStore } from '../../functions/counter/dynamodb-history-store.ts';
import { HISTORY_TABLE, ROLLUPS_TABLE } from '../../functions/counter/table.ts';
import { ensureTable } from '../../lib/local/tables.ts';
import { historyStoreContract } from '../support/history-store-contract.ts';
import { useEngine } from '../support/local-engine.ts';

// DynamoDB's history store on the local engine, held to the same suite as the in-memory twin
// (test/unit/in-memory-history-store.contract.test.ts): fresh history and rollups tables for each test.
const local = useEngine({ documents: { marshallOptions: { removeUndefinedValues: true } } });
let tables = 0;

historyStoreContract('DynamoDB on the local engine', async () => {
  const suffix = ++tables;
  const names = { history: `contract-history-${suffix}`, rollups: `contract-rollups-${suffix}` };
  await ensureTable(local.documents, names.history, HISTORY_TABLE);
  await ensureTable(local.documents, names.rollups, ROLLUPS_TABLE);
  return new DynamoHistoryStore(local.documents, names);
});
