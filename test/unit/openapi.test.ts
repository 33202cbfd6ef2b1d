import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderOpenApi } from '../../scripts/openapi.ts';

describe('openapi.json', () => {
  it('is what `npm run openapi` generates from the route table and schemas', () => {
    const committed = readFileSync(new URL('../../openapi.json', import.meta.url), 'utf8');

    expect(committed).toBe(renderOpenApi());
  });

  it('describes every route of the route table, and nothing else', () => {
    const document = JSON.parse(renderOpenApi()) as { paths: Record<string, Record<string, unknown>> };

    const described = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );

    // Written out here, not read from lib/routes.ts: a route added or dropped shows up.
    expect(described.sort()).toEqual(
      [
        'DELETE /counters/{name}',
        'GET /counter',
        'GET /counter/history',
        'GET /counters',
        'GET /counters/{name}',
        'GET /counters/{name}/history',
        'GET /counters/{name}/series',
        'POST /counter',
        'POST /counters/{name}',
        'PUT /counter',
        'PUT /counters/{name}',
      ].sort(),
    );
  });
});
