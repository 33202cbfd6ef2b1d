import {
  type ChangeCommand,
  changeIdempotently,
  type IdempotentDeps,
  idempotencyId,
  type Outcome,
  type StoredAnswer,
} from '../counter/idempotency.ts';
import type { ServiceDeps } from '../counter/service.ts';
import { counterService, idempotentService } from '../counter/wiring.ts';
import { BadRequestError } from '../shared/errors.ts';
import { actorOf, type HttpEvent, type HttpResult, problemResponse, toProblem } from '../shared/http.ts';
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
 * (CONTRACT.md section 4), answering a repeat with the first answer and `Idempotent-Replayed: true`.
 */
export async function applyChange(
  deps: ChangeDeps,
  event: HttpEvent,
  command: ChangeCommand,
  direct: () => Promise<HttpResult>,
  options: { minimal?: boolean } = {},
): Promise<HttpResult> {
  const key = event.headers['idempotency-key'];
  if (key === undefined) return direct();
  if (!KEY.test(key)) {
    throw new BadRequestError('Idempotency-Key must be 1 to 255 printable ASCII characters.');
  }
  const minimal = options.minimal === true;
  const { answer, replayed } = await changeIdempotently(
    deps.idempotent,
    { id: idempotencyId(actorOf(event), key), command, readBack: !minimal },
    (outcome) => render(outcome, minimal),
  );
  return {
    statusCode: answer.statusCode,
    headers: { ...answer.headers, ...(replayed ? { 'idempotent-replayed': 'true' } : {}) },
    ...(answer.body === '' ? {} : { body: answer.body }),
  };
}

function render(outcome: Outcome, minimal: boolean): StoredAnswer {
  const result =
    outcome.kind === 'counter' || outcome.kind === 'applied'
      ? changedResponse(outcome.kind === 'counter' ? outcome.counter : undefined, minimal)
      : outcome.kind === 'deleted'
        ? { statusCode: 204 }
        : problemResponse(toProblem(outcome.error));
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  return { statusCode: result.statusCode ?? 200, headers, body: result.body ?? '' };
}
