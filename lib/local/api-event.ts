import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2WithIAMAuthorizer, Context } from 'aws-lambda';
import { LOCAL_ACCOUNT, type LocalPrincipal } from './principals.ts';
import type { RawRequest } from './sigv4.ts';

/**
 * Builds the payload-format-2.0 event API Gateway's HTTP API hands a Lambda integration behind the
 * IAM authorizer, so the handlers run locally exactly as they do on AWS.
 */
export function toApiGatewayEvent(
  request: RawRequest,
  routeKey: string,
  pathParameters: Record<string, string> | undefined,
  principal: Pick<LocalPrincipal, 'accessKeyId' | 'arn'>,
  sourceIp: string,
  { requestId = randomUUID(), now = new Date() }: { requestId?: string; now?: Date } = {},
): APIGatewayProxyEventV2WithIAMAuthorizer {
  const queryStringParameters = queryParameters(request.rawQueryString);
  const textBody = request.body.length === 0 ? undefined : request.body.toString('utf8');
  return {
    version: '2.0',
    routeKey,
    rawPath: request.rawPath,
    rawQueryString: request.rawQueryString,
    headers: request.headers,
    ...(queryStringParameters === undefined ? {} : { queryStringParameters }),
    ...(pathParameters === undefined ? {} : { pathParameters }),
    ...(textBody === undefined ? {} : { body: textBody }),
    isBase64Encoded: false,
    requestContext: {
      accountId: LOCAL_ACCOUNT,
      apiId: 'local',
      domainName: request.headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method: request.method,
        path: request.rawPath,
        protocol: 'HTTP/1.1',
        sourceIp,
        userAgent: request.headers['user-agent'] ?? '',
      },
      requestId,
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
      authorizer: {
        iam: {
          accessKey: principal.accessKeyId,
          accountId: LOCAL_ACCOUNT,
          callerId: principal.accessKeyId,
          cognitoIdentity: null,
          principalOrgId: '',
          userArn: principal.arn,
          userId: principal.accessKeyId,
        },
      },
    },
  };
}

/** As API Gateway does: decoded values, repeated keys joined with commas. */
function queryParameters(raw: string): Record<string, string> | undefined {
  if (raw === '') return undefined;
  const params: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    params[key] = params[key] === undefined ? value : `${params[key]},${value}`;
  }
  return params;
}

/** The Lambda context a handler's middlewares read. */
export function lambdaContext(functionName: string, requestId: string): Context {
  const deadline = Date.now() + 10_000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:${LOCAL_ACCOUNT}:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
