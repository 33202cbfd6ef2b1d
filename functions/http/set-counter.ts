import { setBody } from '../counter/schema.ts';
import { setCounter } from '../counter/service.ts';
import { counterService } from '../counter/wiring.ts';
import { BadRequestError } from '../shared/errors.ts';
import { actorOf, expectedVersion, httpHandler } from '../shared/http.ts';
import { parseJsonBody } from '../shared/json-body.ts';
import { counterNameOf, counterResponse } from './responses.ts';

const deps = counterService();

/** PUT /counters/{name} and PUT /counter with `{"value": N}`. */
export const handler = httpHandler(async (event) => {
  const name = counterNameOf(event);
  const body = parseJsonBody(event.body, event.isBase64Encoded, setBody);
  if (body === undefined) throw new BadRequestError('body is required: a JSON object such as {"value": 10}.');
  const counter = await setCounter(deps, {
    name,
    value: body.value,
    actor: actorOf(event),
    expectedVersion: expectedVersion(event),
  });
  return counterResponse(counter);
});
