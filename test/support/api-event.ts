import type { APIGatewayProxyEventV2WithIAMAuthorizer, Context } from 'aws-lambda';

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

/** The payload-format-2.0 event an HTTP API with the IAM authorizer hands a Lambda integration. */
export function apiEvent(request: ApiRequest): APIGatewayProxyEventV2WithIAMAuthorizer {
  const [method = 'GET'] = request.routeKey.split(' ');
  const rawQueryString = new URLSearchParams(request.query ?? {}).toString();
  return {
    version: '2.0',
    routeKey: request.routeKey,
    rawPath: request.path,
    rawQueryString,
    headers: { host: 'api.example.com', ...request.headers },
    ...(request.query === undefined ? {} : { queryStringParameters: request.query }),
    ...(request.pathParameters === undefined ? {} : { pathParameters: request.pathParameters }),
    ...(request.body === undefined ? {} : { body: request.body }),
    isBase64Encoded: request.isBase64Encoded ?? false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.example.com',
      domainPrefix: 'api',
      http: {
        method,
        path: request.path,
        protocol: 'HTTP/1.1',
        sourceIp: '192.0.2.1',
        userAgent: 'unit-test',
      },
      requestId: 'request-1',
      routeKey: request.routeKey,
      stage: '$default',
      time: '01/Jan/2025:00:00:00 +0000',
      timeEpoch: 1735689600000,
      authorizer: {
        iam: {
          accessKey: 'AKIAUNITTEST',
          accountId: '123456789012',
          callerId: 'AIDAUNITTEST',
          cognitoIdentity: null,
          principalOrgId: '',
          userArn: request.userArn ?? TEST_USER_ARN,
          userId: 'AIDAUNITTEST',
        },
      },
    },
  };
}

/** Just enough of a Lambda context for the handlers' middlewares. */
export function lambdaContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'unit-test',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:unit-test',
    memoryLimitInMB: '128',
    awsRequestId: 'aws-request-1',
    logGroupName: '/aws/lambda/unit-test',
    logStreamName: 'stream',
    getRemainingTimeInMillis: () => 10_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
