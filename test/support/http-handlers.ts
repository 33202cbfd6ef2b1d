import type { Context } from 'aws-lambda';
import { expect, vi } from 'vitest';
import { z } from 'zod';
import type { HttpEvent, HttpResult } from '../../functions/http/http.ts';
import { type ApiRequest, apiEvent, lambdaContext } from './api-event.ts';

export const COUNTERS_TABLE = 'counters-table-7f3a9c';
export const HISTORY_TABLE = 'history-table-1b2d4e';
export const IDEMPOTENCY_TABLE = 'idempotency-table-5c6e8a';
export const ROLLUPS_TABLE = 'rollups-table-9d1f3b';

export type RouteHandler = (event: HttpEvent, context: Context) => Promise<HttpResult>;

export interface Handlers {
  increment: RouteHandler;
  set: RouteHandler;
  get: RouteHandler;
  delete: RouteHandler;
  list: RouteHandler;
  history: RouteHandler;
}

/**
 * The route handlers build their DynamoDB client and read their tables at import, so the
 * environment is set first and the modules are imported afterwards.
 */
export async function loadHandlers(): Promise<Handlers> {
  vi.stubEnv('COUNTERS_TABLE', COUNTERS_TABLE);
  vi.stubEnv('HISTORY_TABLE', HISTORY_TABLE);
  vi.stubEnv('IDEMPOTENCY_TABLE', IDEMPOTENCY_TABLE);
  vi.stubEnv('ROLLUPS_TABLE', ROLLUPS_TABLE);
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  const [increment, set, get, remove, list, history] = await Promise.all([
    import('../../functions/http/increment-counter.ts'),
    import('../../functions/http/set-counter.ts'),
    import('../../functions/http/get-counter.ts'),
    import('../../functions/http/delete-counter.ts'),
    import('../../functions/http/list-counters.ts'),
    import('../../functions/http/get-history.ts'),
  ]);
  return {
    increment: increment.handler,
    set: set.handler,
    get: get.handler,
    delete: remove.handler,
    list: list.handler,
    history: history.handler,
  };
}

export async function invoke(handler: RouteHandler, request: ApiRequest): Promise<HttpResult> {
  return handler(apiEvent(request), lambdaContext());
}

const problemBody = z.strictObject({
  type: z.string().min(1),
  title: z.string().min(1),
  status: z.number().int(),
  detail: z.string().min(1),
});
export type Problem = z.infer<typeof problemBody>;

/** Asserts the answer is an RFC 9457 problem with the given status, and returns it. */
export function expectProblem(result: HttpResult, status: number): Problem {
  expect(result.statusCode).toBe(status);
  expect(result.headers?.['content-type']).toBe('application/problem+json');
  const problem = problemBody.parse(JSON.parse(String(result.body)));
  expect(problem.status).toBe(status);
  return problem;
}
