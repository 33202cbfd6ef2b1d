import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type { APIGatewayProxyEventV2WithIAMAuthorizer, Context } from 'aws-lambda';
import { lambdaContext, toApiGatewayEvent } from '../lib/local/api-event.ts';
import type { LocalPrincipal } from '../lib/local/principals.ts';

/** What Lambda calls: an HTTP handler, or the stream consumer (with its own event type). */
export type LambdaHandler<E> = (event: E, context: Context) => Promise<unknown>;

/** The caller every benchmark request comes from: an admin, as the local server's own key is. */
export const BENCH_PRINCIPAL: LocalPrincipal = {
  accessKeyId: 'bench',
  secretAccessKey: 'bench',
  arn: 'arn:aws:iam::000000000000:user/bench',
  allow: ['*'],
};

function isHandler<E>(value: unknown): value is LambdaHandler<E> {
  return typeof value === 'function';
}

/**
 * Imports a built bundle's `handler` into this process. `instance` goes into the URL's query, so
 * each instance is a separate module that reads the environment afresh at import, as a new Lambda
 * execution environment would.
 */
export async function importBundle<E>(file: string, instance: string): Promise<LambdaHandler<E>> {
  const loaded: unknown = await import(`${pathToFileURL(file).href}?${instance}`);
  const handler =
    typeof loaded === 'object' && loaded !== null && 'handler' in loaded ? loaded.handler : undefined;
  if (!isHandler<E>(handler)) throw new Error(`${file} exports no handler`);
  return handler;
}

export interface HttpCall {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** API Gateway's route key path, e.g. `/counters/{name}`. */
  route: string;
  path: string;
  pathParameters?: Record<string, string>;
  query?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** The payload-2.0 event API Gateway would hand the function for this request, built as the local server builds it. */
export function httpEvent(call: HttpCall): APIGatewayProxyEventV2WithIAMAuthorizer {
  const body = call.body === undefined ? '' : JSON.stringify(call.body);
  return toApiGatewayEvent(
    {
      method: call.method,
      rawPath: call.path,
      rawQueryString: call.query ?? '',
      headers: {
        host: 'bench.local',
        'user-agent': 'counter-service-bench',
        ...(body === '' ? {} : { 'content-type': 'application/json' }),
        ...call.headers,
      },
      body: Buffer.from(body),
    },
    `${call.method} ${call.route}`,
    call.pathParameters,
    BENCH_PRINCIPAL,
    '127.0.0.1',
  );
}

export function context(functionName: string): Context {
  return lambdaContext(functionName, randomUUID());
}

/** The status code of a structured result (what our handlers return); 200 for anything else, as API Gateway maps it. */
export function statusOf(result: unknown): number {
  if (typeof result === 'object' && result !== null && 'statusCode' in result) {
    return typeof result.statusCode === 'number' ? result.statusCode : 200;
  }
  return 200;
}
