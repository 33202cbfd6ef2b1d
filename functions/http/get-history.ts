import { historyQuery } from '../counter/schema.ts';
import { counterHistory } from '../counter/service.ts';
import { counterService } from '../counter/wiring.ts';
import { httpHandler, json, nextLink, parseParams } from './http.ts';
import { counterNameOf } from './responses.ts';

const deps = counterService();

/**
 * GET /counters/{name}/history and GET /counter/history: changes oldest first, a page at a time,
 * optionally within `since` (inclusive) and `until` (exclusive).
 */
export const handler = httpHandler(async (event) => {
  const name = counterNameOf(event);
  const query = parseParams('query', event.queryStringParameters, historyQuery);
  const page = await counterHistory(deps, { name, ...query });
  const { limit, since, until } = query;
  return json(200, page.items, nextLink(event, { limit, since, until }, page.cursor));
});
