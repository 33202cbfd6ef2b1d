import { counterRepositoryContract } from '../support/counter-repository-contract.ts';
import { InMemoryCounterRepository } from '../support/in-memory-repository.ts';

// The in-memory twin the domain's unit tests use, held to the suite DynamoDB's repository passes
// on the local engine (test/integration/dynamodb-repository.contract.test.ts).
counterRepositoryContract('in-memory twin', () => new InMemoryCounterRepository());
