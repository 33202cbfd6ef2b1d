import type { APIGatewayProxyEventV2WithIAMAuthorizer, Context } from 'aws-lambda';
import { lambdaContext as localLambdaContext, toApiGatewayEvent } from '../../lib/local/api-event.ts';

export const TEST_USER_ARN = 'arn:aws:iam::123456789012:user/unit-tester';

export interface ApiRequest {
  /** API Gateway's route key, e.g. `POST /counters/{name}`. */
  routeKey: string;
  /** The path as sent, e.g. `/counters/visits`. */
  path: string;
  pathParameters?: Record<string, string>;
  query?: Record<string, string>;
  /** Lower-case names, as API Gateway delivers them. */
  headers?: Record<string, string>;
  body?: string;
  isBase64Encoded?: boolean;
  userArn?: string;
}

/**
 * The event the local server builds (one builder, so unit tests and `npm start` hand the handlers
 * the same shape), with a fixed request id and clock so answers can be compared whole.
 */
export function apiEvent(request: ApiRequest): APIGatewayProxyEventV2WithIAMAuthorizer {
  const [method = 'GET'] = request.routeKey.split(' ');
  const event = toApiGatewayEvent(
    {
      method,
      rawPath: request.path,
      rawQueryString: new URLSearchParams(request.query ?? {}).toString(),
      headers: { host: 'api.example.com', 'user-agent': 'unit-test', ...request.headers },
      body: Buffer.from(request.body ?? ''),
    },
    request.routeKey,
    request.pathParameters,
    { accessKeyId: 'AKIAUNITTEST', arn: request.userArn ?? TEST_USER_ARN },
    '192.0.2.1',
    { requestId: 'request-1', now: new Date('2025-01-01T00:00:00Z') },
  );
  // A body the caller sent as base64 stays base64, as API Gateway passes binary bodies.
  return request.isBase64Encoded ? { ...event, isBase64Encoded: true } : event;
}

/** Just enough of a Lambda context for the handlers' middlewares. */
export function lambdaContext(): Context {
  return localLambdaContext('unit-test', 'aws-request-1');
}
