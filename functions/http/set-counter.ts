import { setBody } from '../counter/schema.ts';
import { runCommand } from '../counter/service.ts';
import { applyChange, type ChangeDeps, changeDeps } from './changes.ts';
import { actorOf, expectedVersion, httpHandler } from './http.ts';
import { parseJsonBody } from './json-body.ts';
import { BadRequestError } from './problems.ts';
import { counterNameOf } from './responses.ts';

/**
 * PUT /counters/{name} and PUT /counter with `{"value": N}`, optionally `"min"`/`"max"` (a number sets
 * the bound, null removes it, absent keeps it) or, creating a counter, `"shards"`.
 */
export function createSetHandler(deps: ChangeDeps) {
  return httpHandler(
    async (event) => {
      const name = counterNameOf(event);
      const body = parseJsonBody(event.body, event.isBase64Encoded, setBody);
      if (body === undefined)
        throw new BadRequestError('body is required: a JSON object such as {"value": 10}.');
      const command = {
        op: 'set' as const,
        name,
        value: body.value,
        ...(body.shards === undefined ? {} : { shards: body.shards }),
        ...(body.min === undefined ? {} : { min: body.min }),
        ...(body.max === undefined ? {} : { max: body.max }),
        actor: actorOf(event),
        expectedVersion: expectedVersion(event),
      };
      return applyChange(deps, event, command, (attempt) => runCommand(deps.service, command, { attempt }));
    },
    { changes: true },
  );
}

export const handler = createSetHandler(changeDeps());
