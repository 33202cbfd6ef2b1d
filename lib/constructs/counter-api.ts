import { ArnFormat, Duration, Names, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  CorsHttpMethod,
  type CorsPreflightOptions,
  HttpApi,
  HttpMethod,
  HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { SystemLogLevel, Tracing } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { accessPatterns } from '../access.ts';
import {
  CORS_ALLOW_HEADERS,
  CORS_ALLOW_METHODS,
  CORS_EXPOSE_HEADERS,
  CORS_MAX_AGE_SECONDS,
  validateCorsOrigins,
} from '../cors.ts';
import { type Access, ROUTES, routeFunctions } from '../routes.ts';
import { anyOccurrenceAlarm } from './any-occurrence-alarm.ts';
import type { CounterTables } from './counter-tables.ts';
import { CounterFunction } from './node-function.ts';

export interface ThrottleProps {
  /** Steady-state requests per second across the stage. */
  readonly rateLimit: number;
  /** Requests allowed in a burst above the rate. */
  readonly burstLimit: number;
}

export interface CounterApiProps {
  /** The tables the route functions read and write. */
  readonly tables: CounterTables;

  /**
   * Stage-wide throttling; callers above it get 429 from API Gateway.
   * @default { rateLimit: 1000, burstLimit: 2000 }
   */
  readonly throttle?: ThrottleProps;

  /**
   * How long the access log keeps its events.
   * @default RetentionDays.ONE_MONTH
   */
  readonly accessLogRetention?: RetentionDays;

  /**
   * Browser origins allowed to call the API (`https://host[:port]`, or `http://localhost[:port]`),
   * exactly as browsers send them in `Origin`. API Gateway then answers preflights itself and adds the
   * CORS headers of lib/cors.ts to every answer for these origins. `*` is refused: these are
   * credential-bearing IAM calls.
   * @default - no CORS: no preflight answers, no CORS headers
   */
  readonly corsAllowOrigins?: string[];

  /**
   * Which of Lambda's own log lines the route functions' log groups get (CounterFunctionProps).
   * @default SystemLogLevel.WARN
   */
  readonly systemLogLevel?: SystemLogLevel;

  /**
   * X-Ray tracing of the route functions (CounterFunctionProps).
   * @default Tracing.DISABLED
   */
  readonly tracing?: Tracing;
}

/** Options of the grants for other principals (contract §2). */
export interface GrantOptions {
  /**
   * Limit the grant to counters whose names start with this (1 to 127 of `A-Z a-z 0-9 . _ : -`).
   * The listing is never included; the seed's `/counter` routes only if `default` starts with it.
   * @default - every counter
   */
  readonly prefix?: string;
}

/**
 * One field per line of the JSON access log; the principal is who signed the request. Exported so
 * the benchmarks (bench/cost.ts) price the line that deploys.
 */
export const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  ip: '$context.identity.sourceIp',
  principal: '$context.identity.userArn',
  userAgent: '$context.identity.userAgent',
  routeKey: '$context.routeKey',
  path: '$context.path',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  latency: '$context.responseLatency',
  integrationLatency: '$context.integrationLatency',
  integrationStatus: '$context.integrationStatus',
  integrationErrorMessage: '$context.integrationErrorMessage',
  errorMessage: '$context.error.message',
  authorizerError: '$context.authorizer.error',
};

/**
 * The HTTP API: one route per entry of the route table, every one IAM-authorized (SigV4), each
 * integrated with its operation's function; the function gets exactly the table access its spec
 * names. Offers grants of `execute-api:Invoke` to other principals, and alarms on 5xx answers and on
 * each function's errors and throttles.
 */
export class CounterApi extends Construct {
  public readonly httpApi: HttpApi;
  public readonly stage: HttpStage;
  public readonly accessLogGroup: LogGroup;
  /** The route functions by their route-table id (`get-counter`, ...). */
  public readonly functions: ReadonlyMap<string, CounterFunction>;
  public readonly serverErrorAlarm: Alarm;
  /** Errors and throttles alarms of every function, in routeFunctions() order. */
  public readonly functionAlarms: Alarm[];

  constructor(scope: Construct, id: string, props: CounterApiProps) {
    super(scope, id);
    this.httpApi = this.createHttpApi(props.corsAllowOrigins ?? []);
    this.accessLogGroup = this.createAccessLogGroup(props.accessLogRetention ?? RetentionDays.ONE_MONTH);
    this.stage = this.createStage(props.throttle ?? { rateLimit: 1000, burstLimit: 2000 });
    this.functions = this.createFunctions(props);
    this.addRoutes();
    this.serverErrorAlarm = anyOccurrenceAlarm(
      this,
      'ServerErrorAlarm',
      // Bad input never yields a 5xx (contract §5), so even one is a defect or an outage.
      'The API answered 5xx in the last 5 minutes.',
      this.httpApi.metricServerError({ statistic: 'Sum', period: Duration.minutes(5) }),
    );
    this.functionAlarms = [...this.functions.entries()].flatMap(([fnId, fn]) => [
      anyOccurrenceAlarm(
        this,
        `${pascalCase(fnId)}ErrorsAlarm`,
        `${fnId} failed an invocation (crash, timeout or init error) in the last 5 minutes.`,
        fn.metricErrors({ statistic: 'Sum', period: Duration.minutes(5) }),
      ),
      anyOccurrenceAlarm(
        this,
        `${pascalCase(fnId)}ThrottlesAlarm`,
        `${fnId} was throttled by Lambda concurrency in the last 5 minutes.`,
        fn.metricThrottles({ statistic: 'Sum', period: Duration.minutes(5) }),
      ),
    ]);
    this.acknowledgeNoDeadLetterQueues();
  }

  private createHttpApi(corsAllowOrigins: readonly string[]): HttpApi {
    const corsPreflight = corsPreflightOf(corsAllowOrigins);
    return new HttpApi(this, 'HttpApi', {
      apiName: `${Stack.of(this).stackName}-counters`,
      description: 'Counter service: exact counters with a complete history (IAM-signed requests only).',
      defaultAuthorizer: new HttpIamAuthorizer(),
      // The default stage is created below, so it can carry access logging and throttling.
      createDefaultStage: false,
      ...(corsPreflight === undefined ? {} : { corsPreflight }),
    });
  }

  private createAccessLogGroup(retention: RetentionDays): LogGroup {
    return new LogGroup(this, 'AccessLogs', {
      // Under /aws/vendedlogs/, as AWS asks of log groups its services deliver to: such groups are
      // kept out of the account's CloudWatch Logs resource policy, whose 5,120 characters a few
      // stacks' groups would otherwise fill, failing later deploys in the account.
      logGroupName: `/aws/vendedlogs/apigateway/${Names.uniqueResourceName(this, { maxLength: 200, separator: '-' })}-access`,
      retention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }

  /** The `$default` stage, deployed on every change, with throttling and the JSON access log. */
  private createStage(throttle: ThrottleProps): HttpStage {
    return new HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogGroup),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });
  }

  /** One function per operation, with exactly the table access its spec names. */
  private createFunctions(props: CounterApiProps): Map<string, CounterFunction> {
    const functions = new Map<string, CounterFunction>();
    for (const spec of routeFunctions()) {
      const fn = new CounterFunction(this, pascalCase(spec.id), {
        entry: spec.entry,
        description: spec.description,
        ...(props.systemLogLevel === undefined ? {} : { systemLogLevel: props.systemLogLevel }),
        ...(props.tracing === undefined ? {} : { tracing: props.tracing }),
        // Only the tables it may touch: a name the function cannot use would only mislead.
        environment: props.tables.environmentFor(spec.tables),
      });
      props.tables.grantAccess(fn, spec.tables);
      functions.set(spec.id, fn);
    }
    return functions;
  }

  /**
   * Every route of the route table, each to its operation's function (IAM, the API's default). One
   * integration per function, shared by its routes.
   */
  private addRoutes(): void {
    const integrations = new Map<string, HttpLambdaIntegration>();
    for (const [fnId, fn] of this.functions) {
      integrations.set(fnId, new HttpLambdaIntegration(`${pascalCase(fnId)}Integration`, fn));
    }
    for (const route of ROUTES) {
      const integration = integrations.get(route.function.id);
      if (integration === undefined) throw new Error(`No function for route ${route.method} ${route.path}`);
      this.httpApi.addRoutes({ path: route.path, methods: [HttpMethod[route.method]], integration });
    }
  }

  private acknowledgeNoDeadLetterQueues(): void {
    for (const fn of this.functions.values()) {
      Validations.of(fn).acknowledge({
        id: 'Serverless-LambdaDLQ',
        reason:
          'API Gateway invokes these functions synchronously and returns their failure to the caller; ' +
          'a dead-letter queue only receives failed asynchronous invocations, which never happen here.',
      });
    }
  }

  /** The API's base URL (the `$default` stage). */
  public get url(): string {
    return this.stage.url;
  }

  public get alarms(): Alarm[] {
    return [this.serverErrorAlarm, ...this.functionAlarms];
  }

  /** Every GET route: counters, the listing, history. */
  public grantRead(grantee: iam.IGrantable, options: GrantOptions = {}): iam.Grant {
    return this.grantAccess(grantee, 'read', options);
  }

  /** POST of counters (add to them). */
  public grantIncrement(grantee: iam.IGrantable, options: GrantOptions = {}): iam.Grant {
    return this.grantAccess(grantee, 'increment', options);
  }

  /** POST, PUT and DELETE of counters. */
  public grantWrite(grantee: iam.IGrantable, options: GrantOptions = {}): iam.Grant {
    return this.grantAccess(grantee, 'write', options);
  }

  /** `execute-api:Invoke` on `arn:...:execute-api:region:account:apiId/<any stage>/METHOD/path`. */
  public grantAccess(grantee: iam.IGrantable, access: Access, options: GrantOptions = {}): iam.Grant {
    const resourceArns = accessPatterns(access, options.prefix).map((pattern) =>
      Stack.of(this).formatArn({
        service: 'execute-api',
        resource: this.httpApi.apiId,
        resourceName: `*/${pattern}`,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      }),
    );
    return iam.Grant.addToPrincipal({ grantee, actions: ['execute-api:Invoke'], resourceArns });
  }
}

/** No origins, no CORS: a page on another origin then cannot read any answer. */
function corsPreflightOf(origins: readonly string[]): CorsPreflightOptions | undefined {
  const allowOrigins = validateCorsOrigins(origins);
  if (allowOrigins.length === 0) return undefined;
  return {
    allowOrigins,
    allowMethods: CORS_ALLOW_METHODS.map((method) => CorsHttpMethod[method]),
    allowHeaders: [...CORS_ALLOW_HEADERS],
    exposeHeaders: [...CORS_EXPOSE_HEADERS],
    maxAge: Duration.seconds(CORS_MAX_AGE_SECONDS),
  };
}

function pascalCase(kebab: string): string {
  return kebab.replace(/(^|-)([a-z0-9])/g, (_match, _dash: string, letter: string) => letter.toUpperCase());
}
