import { seriesQuery } from '../counter/schema.ts';
import { counterSeries } from '../counter/service.ts';
import { counterService } from '../counter/wiring.ts';
import { httpHandler, json, nextLink, parseParams } from './http.ts';
import { counterNameOf } from './responses.ts';

const deps = counterService();

/**
 * GET /counters/{name}/series?interval=minute|hour|day&since=&until=: the counter's changes summed
 * into UTC buckets, oldest first, read from the rollups the stream consumer keeps. Buckets without
 * changes are left out.
 */
export const handler = httpHandler(async (event) => {
  const name = counterNameOf(event);
  const query = parseParams('query', event.queryStringParameters, seriesQuery);
  const page = await counterSeries(deps, { name, ...query });
  const { interval, limit, since, until } = query;
  return json(200, page.items, nextLink(event, { interval, limit, since, until }, page.cursor));
});
