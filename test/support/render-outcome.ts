import {
  CounterNotFoundError,
  CounterOutOfRangeError,
  ShardLayoutError,
  VersionMismatchError,
} from '../../functions/counter/errors.ts';
import type { Outcome, StoredAnswer } from '../../functions/counter/idempotency.ts';

/**
 * A stand-in for the HTTP rendering of a keyed change's outcome (functions/http/changes.ts): the
 * status says which outcome it was, the body what it said.
 */
export function renderOutcome(outcome: Outcome, minimal = false): StoredAnswer {
  if (outcome.kind === 'counter' && minimal) {
    return { statusCode: 204, headers: { etag: `"${outcome.counter.version}"` }, body: '' };
  }
  if (outcome.kind === 'counter') {
    return {
      statusCode: 200,
      headers: { etag: `"${outcome.counter.version}"` },
      body: JSON.stringify(outcome.counter),
    };
  }
  if (outcome.kind === 'deleted') return { statusCode: 204, headers: {}, body: '' };
  if (outcome.kind === 'applied') return { statusCode: 204, headers: { applied: 'true' }, body: '' };
  const status =
    outcome.error instanceof CounterNotFoundError
      ? 404
      : outcome.error instanceof CounterOutOfRangeError || outcome.error instanceof ShardLayoutError
        ? 409
        : outcome.error instanceof VersionMismatchError
          ? 412
          : 500;
  return { statusCode: status, headers: {}, body: JSON.stringify({ detail: outcome.error.message }) };
}
