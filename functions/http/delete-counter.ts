import { deleteCounter } from '../counter/service.ts';
import { counterService } from '../counter/wiring.ts';
import { expectedVersion, httpHandler } from '../shared/http.ts';
import { counterNameOf } from './responses.ts';

const deps = counterService();

/** DELETE /counters/{name}: 204, or 404 if there was none. Its history goes too, via the stream. */
export const handler = httpHandler(async (event) => {
  await deleteCounter(deps, { name: counterNameOf(event), expectedVersion: expectedVersion(event) });
  return { statusCode: 204 };
});
