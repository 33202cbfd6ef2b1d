import { runCommand } from '../counter/service.ts';
import { applyChange, type ChangeDeps, changeDeps } from './changes.ts';
import { actorOf, expectedVersion, httpHandler } from './http.ts';
import { counterNameOf } from './responses.ts';

/** DELETE /counters/{name}: 204, or 404 if there was none. Its history goes too, via the stream. */
export function createDeleteHandler(deps: ChangeDeps) {
  return httpHandler(
    async (event) => {
      const command = {
        op: 'delete' as const,
        name: counterNameOf(event),
        actor: actorOf(event),
        expectedVersion: expectedVersion(event),
      };
      return applyChange(deps, event, command, (attempt) => runCommand(deps.service, command, { attempt }));
    },
    { changes: true },
  );
}

export const handler = createDeleteHandler(changeDeps());
