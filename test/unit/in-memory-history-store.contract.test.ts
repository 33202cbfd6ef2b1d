import { historyStoreContract } from '../support/history-store-contract.ts';
import { InMemoryHistoryStore } from '../support/in-memory-repository.ts';

// The in-memory history store the domain's unit tests read history from, held to the suite
// DynamoDB's history store passes on the local engine (test/integration/dynamodb-history-store.contract.test.ts).
historyStoreContract('in-memory twin', () => new InMemoryHistoryStore());
