import { randomUUID } from 'node:crypto';
import { certainlyNotWritten } from '../platform/aws-errors.ts';
import { documentClient } from '../platform/dynamodb.ts';
import { optionalEnv, requireEnv, requireEnvWhenUsed } from '../platform/env.ts';
import { DynamoIdempotencyStore } from './dynamodb-idempotency-store.ts';
import { DynamoCounterRepository, type TableNames } from './dynamodb-repository.ts';
import { CLAIM_LEASE_MS, type IdempotentDeps } from './idempotency.ts';
import type { ServiceDeps } from './service.ts';

/**
 * The tables' names, each read from the environment when first used: a function is given only the
 * names of the tables it may touch (lib/routes.ts), so get-counter, say, has no HISTORY_TABLE.
 */
export function tableNames(): TableNames {
  const counters = requireEnvWhenUsed('COUNTERS_TABLE');
  const history = requireEnvWhenUsed('HISTORY_TABLE');
  const rollups = requireEnvWhenUsed('ROLLUPS_TABLE');
  const idempotency = requireEnvWhenUsed('IDEMPOTENCY_TABLE');
  return {
    get counters() {
      return counters();
    },
    get history() {
      return history();
    },
    get rollups() {
      return rollups();
    },
    get idempotency() {
      return idempotency();
    },
  };
}

/**
 * The production wiring, built once at cold start by each handler. Only the changing functions build
 * the second client, whose retries never re-send a write (functions/platform/dynamodb.ts), and know the
 * idempotency table, where a keyed delete writes its answer in its own transaction.
 */
export function counterService(use: 'reads' | 'changes' = 'reads'): ServiceDeps {
  return {
    repository: new DynamoCounterRepository(
      documentClient(),
      tableNames(),
      use === 'changes' ? documentClient('throttling-only') : undefined,
    ),
    now: () => new Date().toISOString(),
    newId: randomUUID,
  };
}

/** Keyed (Idempotency-Key) changes: the idempotency table beside the counters table. */
export function idempotentService(service: ServiceDeps = counterService('changes')): IdempotentDeps {
  return {
    store: new DynamoIdempotencyStore(
      documentClient(),
      requireEnv('IDEMPOTENCY_TABLE'),
      // Tests of abandoned claims shorten it; the default outlasts the functions' 10 s timeout.
      Number(optionalEnv('IDEMPOTENCY_LEASE_MS') ?? CLAIM_LEASE_MS),
    ),
    repository: service.repository,
    newId: service.newId,
    notApplied: certainlyNotWritten,
  };
}
