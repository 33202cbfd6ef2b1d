import { listQuery } from '../counter/schema.ts';
import { listCounters } from '../counter/service.ts';
import { counterService } from '../counter/wiring.ts';
import { httpHandler, json, nextLink, parseParams } from './http.ts';

const deps = counterService();

/** GET /counters?prefix=P&limit=L&cursor=C: counters ordered by name, a page at a time. */
export const handler = httpHandler(async (event) => {
  const query = parseParams('query', event.queryStringParameters, listQuery);
  const page = await listCounters(deps, query);
  return json(
    200,
    page.items,
    nextLink(event, { prefix: query.prefix || undefined, limit: query.limit }, page.cursor),
  );
});
