import { incrementBody } from '../counter/schema.ts';
import { incrementCounter } from '../counter/service.ts';
import { counterService } from '../counter/wiring.ts';
import { actorOf, expectedVersion, httpHandler } from '../shared/http.ts';
import { parseJsonBody } from '../shared/json-body.ts';
import { counterNameOf, counterResponse } from './responses.ts';

const deps = counterService();

/** POST /counters/{name} and POST /counter: one atomic ADD, by 1 unless the body says `{"by": N}`. */
export const handler = httpHandler(async (event) => {
  const name = counterNameOf(event);
  const body = parseJsonBody(event.body, event.isBase64Encoded, incrementBody);
  const counter = await incrementCounter(deps, {
    name,
    by: body?.by ?? 1,
    actor: actorOf(event),
    expectedVersion: expectedVersion(event),
  });
  return counterResponse(counter);
});
