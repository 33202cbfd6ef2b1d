import { getCounter } from '../counter/service.ts';
import { counterService } from '../counter/wiring.ts';
import { httpHandler } from './http.ts';
import { counterNameOf, counterResponse } from './responses.ts';

const deps = counterService();

/** GET /counters/{name} and GET /counter. */
export const handler = httpHandler(async (event) =>
  counterResponse(await getCounter(deps, counterNameOf(event))),
);
