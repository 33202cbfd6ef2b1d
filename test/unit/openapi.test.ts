import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ROUTES } from '../../lib/routes.ts';
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

    expect(described.sort()).toEqual(ROUTES.map((route) => `${route.method} ${route.path}`).sort());
  });
});
