import { incrementBody } from '../counter/schema.ts';
import { runCommand } from '../counter/service.ts';
import { applyChange, type ChangeDeps, changeDeps } from './changes.ts';
import { actorOf, expectedVersion, httpHandler } from './http.ts';
import { parseJsonBody } from './json-body.ts';
import { counterNameOf, prefersMinimal } from './responses.ts';

/**
 * POST /counters/{name} and POST /counter: one atomic ADD, by 1 unless the body says `{"by": N}`.
 * `Prefer: return=minimal` answers 204 without a body (responses.ts changedResponse).
 */
export function createIncrementHandler(deps: ChangeDeps) {
  return httpHandler(
    async (event) => {
      const name = counterNameOf(event);
      const body = parseJsonBody(event.body, event.isBase64Encoded, incrementBody);
      const command = {
        op: 'increment' as const,
        name,
        by: body?.by ?? 1,
        actor: actorOf(event),
        expectedVersion: expectedVersion(event),
      };
      const minimal = prefersMinimal(event);
      return applyChange(
        deps,
        event,
        command,
        (attempt) => runCommand(deps.service, command, { attempt, readBack: !minimal }),
        { minimal },
      );
    },
    { changes: true },
  );
}

export const handler = createIncrementHandler(changeDeps());
