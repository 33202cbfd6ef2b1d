import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { ROUTES } from '../lib/routes.ts';
import { COMPONENTS } from './openapi/components.ts';
import { operation } from './openapi/operation.ts';

/**
 * Builds the OpenAPI 3.1 description of every route from the route table and the request schemas.
 * `npm run openapi` writes it to openapi.json; a test fails when the committed file differs.
 */
export function buildOpenApi(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) {
    paths[route.path] ??= {};
    const operations = paths[route.path];
    if (operations !== undefined) operations[route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Counter service',
      version: '1.0.0',
      description:
        'Exact counters with a complete history. Every route needs AWS Signature Version 4 for the service ' +
        '`execute-api`; unsigned or unauthorized calls get 403 {"message":"Forbidden"} from API Gateway.',
    },
    servers: [{ url: 'http://127.0.0.1:3000', description: 'npm start' }],
    security: [{ sigv4: [] }],
    paths,
    components: COMPONENTS,
  };
}

export function renderOpenApi(): string {
  return `${JSON.stringify(buildOpenApi(), null, 2)}\n`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  writeFileSync(new URL('../openapi.json', import.meta.url), renderOpenApi());
}
