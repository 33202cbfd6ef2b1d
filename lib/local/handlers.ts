import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type {
  APIGatewayProxyEventV2WithIAMAuthorizer,
  Context,
  DynamoDBBatchResponse,
  DynamoDBStreamEvent,
} from 'aws-lambda';
import type { ChangePublisher } from '../../functions/counter/change-events.ts';
import { REPO_ROOT } from '../repo-root.ts';
import { HISTORY_CONSUMER, ROUTES, type RouteSpec } from '../routes.ts';
import { safeDecode } from './sigv4.ts';

export type HttpHandler = (
  event: APIGatewayProxyEventV2WithIAMAuthorizer,
  context: Context,
) => Promise<unknown>;
export type StreamHandler = (event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse>;

/** A route of the route table with its handler, and its path as a pattern to match requests with. */
export interface LocalRoute {
  route: RouteSpec;
  pattern: RegExp;
  parameters: string[];
  handler: HttpHandler;
}

/** A request matched to its route, with the path parameters it names (decoded). */
export interface MatchedRoute {
  local: LocalRoute;
  pathParameters?: Record<string, string>;
}

/** Every route's handler, imported once per entry as Lambda would load each function. */
export async function loadRoutes(): Promise<LocalRoute[]> {
  const byEntry = new Map<string, HttpHandler>();
  const routes: LocalRoute[] = [];
  for (const route of ROUTES) {
    let handler = byEntry.get(route.function.entry);
    if (handler === undefined) {
      handler = await importHandler<HttpHandler>(route.function.entry);
      byEntry.set(route.function.entry, handler);
    }
    const parameters: string[] = [];
    const source = route.path.replace(/\{([a-zA-Z]+)\}/g, (_, name: string) => {
      parameters.push(name);
      return '([^/]+)';
    });
    routes.push({ route, pattern: new RegExp(`^${source}$`), parameters, handler });
  }
  return routes;
}

/** The route a request is for, as API Gateway matches it; undefined for none (404). */
export function matchRoute(routes: LocalRoute[], method: string, rawPath: string): MatchedRoute | undefined {
  for (const local of routes) {
    if (local.route.method !== method) continue;
    const match = local.pattern.exec(rawPath);
    if (match === null) continue;
    const pathParameters: Record<string, string> = {};
    local.parameters.forEach((name, index) => {
      pathParameters[name] = safeDecode(match[index + 1] ?? '');
    });
    return { local, ...(local.parameters.length > 0 ? { pathParameters } : {}) };
  }
  return undefined;
}

/**
 * The stream consumer: the stack's handler, or with `publisher` the consumer that sends its change
 * events there (functions/stream/record-history.ts `consumer`).
 */
export async function loadConsumer(publisher: ChangePublisher | undefined): Promise<StreamHandler> {
  if (publisher === undefined) return importHandler<StreamHandler>(HISTORY_CONSUMER.entry);
  const module: { consumer?: (publisher: ChangePublisher) => StreamHandler } = await import(
    pathToFileURL(join(REPO_ROOT, HISTORY_CONSUMER.entry)).href
  );
  if (module.consumer === undefined) throw new Error(`${HISTORY_CONSUMER.entry} exports no consumer`);
  return module.consumer(publisher);
}

async function importHandler<T>(entry: string): Promise<T> {
  const module: { handler?: T } = await import(pathToFileURL(join(REPO_ROOT, entry)).href);
  if (module.handler === undefined) throw new Error(`${entry} exports no handler`);
  return module.handler;
}
