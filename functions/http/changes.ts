import {
  type ChangeCommand,
  changeIdempotently,
  type IdempotentDeps,
  idempotencyId,
  type Outcome,
  type StoredAnswer,
} from '../counter/idempotency.ts';
import type { KeyedAttempt } from '../counter/repository.ts';
import type { ServiceDeps } from '../counter/service.ts';
import { counterService, idempotentService } from '../counter/wiring.ts';
import { actorOf, type HttpEvent, type HttpResult } from './http.ts';
import { BadRequestError, problemResponse, toProblem } from './problems.ts';
import { changedResponse } from './responses.ts';

/** What a changing handler needs: plain changes, and keyed ones. */
export interface ChangeDeps {
  service: ServiceDeps;
  idempotent: IdempotentDeps;
}

export function changeDeps(): ChangeDeps {
  const service = counterService('changes');
  return { service, idempotent: idempotentService(service) };
}

const KEY = /^[\x20-\x7e]{1,255}$/;

/**
 * Applies a change: directly, or, with `Idempotency-Key`, at most once per key and principal
 * (docs/api.md, safe retries), answering a repeat with the first answer and `Idempotent-Replayed: true`.
 * Either way the change is `apply`, the same writes; a keyed one passes its attempt (idempotency.ts).
 * A refusal is thrown directly, and becomes the stored answer of a keyed change.
 */
export async function applyChange(
  deps: ChangeDeps,
  event: HttpEvent,
  command: ChangeCommand,
  apply: (attempt: KeyedAttempt | undefined) => Promise<Outcome>,
  options: { minimal?: boolean } = {},
): Promise<HttpResult> {
  const minimal = options.minimal === true;
  const key = event.headers['idempotency-key'];
  if (key === undefined) return render(await apply(undefined), minimal);
  if (!KEY.test(key)) {
    throw new BadRequestError('Idempotency-Key must be 1 to 255 printable ASCII characters.');
  }
  const { answer, replayed } = await changeIdempotently(
    deps.idempotent,
    { id: idempotencyId(actorOf(event), key), command, minimal },
    apply,
    (outcome, asked) => stored(render(outcome, asked)),
  );
  return {
    statusCode: answer.statusCode,
    headers: { ...answer.headers, ...(replayed ? { 'idempotent-replayed': 'true' } : {}) },
    ...(answer.body === '' ? {} : { body: answer.body }),
  };
}

function render(outcome: Outcome, minimal: boolean): HttpResult {
  if (outcome.kind === 'counter') return changedResponse(outcome.counter, minimal);
  if (outcome.kind === 'applied') return changedResponse(undefined, minimal);
  if (outcome.kind === 'deleted') return { statusCode: 204 };
  return problemResponse(toProblem(outcome.error));
}

/** An answer as the idempotency record keeps it. */
function stored(result: HttpResult): StoredAnswer {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  return { statusCode: result.statusCode ?? 200, headers, body: result.body ?? '' };
}
