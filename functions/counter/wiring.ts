import { randomUUID } from 'node:crypto';
import { documentClient } from '../shared/dynamodb.ts';
import { requireEnv } from '../shared/env.ts';
import { DynamoCounterRepository, type TableNames } from './dynamodb-repository.ts';
import type { ServiceDeps } from './service.ts';

export function tableNames(): TableNames {
  return { counters: requireEnv('COUNTERS_TABLE'), history: requireEnv('HISTORY_TABLE') };
}

/** The production wiring, built once at cold start by each handler. */
export function counterService(): ServiceDeps {
  return {
    repository: new DynamoCounterRepository(documentClient(), tableNames()),
    now: () => new Date().toISOString(),
    newId: randomUUID,
  };
}
