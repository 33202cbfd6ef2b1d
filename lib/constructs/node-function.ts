import path from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import {
  ApplicationLogLevel,
  Architecture,
  LoggingFormat,
  Runtime,
  SystemLogLevel,
  Tracing,
} from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { TRACING_VARIABLE } from '../../functions/platform/tracing-switch.ts';
import { REPO_ROOT } from '../repo-root.ts';

/** The repository root: route-table entries and the lock file are relative to it. */

/**
 * The bundle is ESM, but some dependencies are CommonJS and call `require` at run time; ESM has no
 * `require`, so the banner defines one. The alias keeps it clear of any bundled `createRequire`.
 */
const REQUIRE_BANNER =
  "import { createRequire as __counterCreateRequire } from 'node:module'; " +
  'const require = __counterCreateRequire(import.meta.url);';

/**
 * How every function is bundled. Exported so the benchmarks (bench/) build exactly what deploys.
 */
export const COUNTER_BUNDLING: BundlingOptions = {
  format: OutputFormat.ESM,
  target: 'node22',
  minify: true,
  sourceMap: true,
  mainFields: ['module', 'main'],
  banner: REQUIRE_BANNER,
  forceDockerBundling: false,
  externalModules: [],
};

/**
 * Every function's house environment. Exported so the benchmarks load the bundles as Lambda does
 * (source maps enabled at load, the same log level).
 */
export const COUNTER_FUNCTION_ENVIRONMENT: Readonly<Record<string, string>> = {
  NODE_OPTIONS: '--enable-source-maps',
  POWERTOOLS_SERVICE_NAME: 'counter-service',
  POWERTOOLS_LOG_LEVEL: ApplicationLogLevel.INFO,
};

export interface CounterFunctionProps {
  /** The handler file, relative to the repository root (a route table `entry`). */
  readonly entry: string;

  /**
   * What the function does, shown in the console.
   * @default - no description
   */
  readonly description?: string;

  /**
   * Memory in MiB; CPU scales with it.
   * @default 256
   */
  readonly memorySize?: number;

  /**
   * How long one invocation may run.
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;

  /**
   * Concurrency set aside for this function alone (and the most it may use).
   * @default - none: the function shares the account's unreserved concurrency
   */
  readonly reservedConcurrentExecutions?: number;

  /**
   * Variables added to the house defaults (they may override them).
   * @default - only the house defaults
   */
  readonly environment?: Record<string, string>;

  /**
   * How long the function's log group keeps its events.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;

  /**
   * What happens to the log group when the function is removed from the stack.
   * @default RemovalPolicy.DESTROY
   */
  readonly logRemovalPolicy?: RemovalPolicy;

  /**
   * Which of Lambda's own log lines reach the log group. At the default WARN, Lambda drops the start
   * and report lines it writes for every invocation (together about as large as everything else a
   * request logs: docs/cost.md); INFO brings them back. The function's own lines (errors, warnings,
   * EMF metrics) are not affected.
   * @default SystemLogLevel.WARN
   */
  readonly systemLogLevel?: SystemLogLevel;

  /**
   * X-Ray tracing. ACTIVE records a trace per sampled invocation (the first each second and 5% of the
   * rest), with each DynamoDB call in it as a subsegment: at low traffic nearly every invocation, at
   * $5 a million, which can outweigh everything else a quiet service costs (docs/cost.md). DISABLED
   * (the default) records none and grants no X-Ray permissions.
   * @default Tracing.DISABLED
   */
  readonly tracing?: Tracing;
}

/**
 * A Node.js 22 Lambda function with the house defaults: arm64, ESM bundled locally by esbuild with
 * the AWS SDK inside (the runtime's SDK version is not ours to choose), X-Ray tracing off unless asked, JSON logs
 * into its own log group with a retention, and a role of its own that starts with nothing but
 * writing to that log group, so every other permission is a visible grant.
 *
 * The log group and role are created beside the function (in the same scope) because a subclass
 * must pass them to `super` before it can create children of its own.
 */
export class CounterFunction extends NodejsFunction {
  public readonly functionLogGroup: LogGroup;

  constructor(scope: Construct, id: string, props: CounterFunctionProps) {
    const logGroup = new LogGroup(scope, `${id}LogGroup`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.DESTROY,
    });
    // Not the default role: that one carries the AWSLambdaBasicExecutionRole managed policy, which
    // may write to any log group in the account.
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${id}`,
    });
    logGroup.grantWrite(role);
    const tracing = props.tracing ?? Tracing.DISABLED;
    // Tells the handlers' DynamoDB clients to record subsegments (functions/platform/tracing.ts):
    // Lambda's own variables are set on untraced functions too.
    const tracingEnvironment: Record<string, string> =
      tracing === Tracing.DISABLED ? {} : { [TRACING_VARIABLE]: tracing };

    super(scope, id, {
      entry: path.join(REPO_ROOT, props.entry),
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(10),
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      tracing,
      role,
      logGroup,
      // Platform lines as JSON too; Powertools already writes JSON. Lambda's level filter
      // (AWS_LAMBDA_LOG_LEVEL) wins over POWERTOOLS_LOG_LEVEL, so both say the same.
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: ApplicationLogLevel.INFO,
      systemLogLevelV2: props.systemLogLevel ?? SystemLogLevel.WARN,
      environment: { ...COUNTER_FUNCTION_ENVIRONMENT, ...tracingEnvironment, ...props.environment },
      bundling: COUNTER_BUNDLING,
    });
    this.functionLogGroup = logGroup;

    const pinnedRuntime =
      'The service contract (docs/api.md section 1) pins Node.js 22, and the local server and tests run on it; ' +
      'moving to a newer runtime is a deliberate, tested change.';
    Validations.of(this).acknowledge(
      { id: 'AwsSolutions-L1', reason: pinnedRuntime },
      { id: 'Serverless-LambdaLatestVersion', reason: pinnedRuntime },
    );
    if (tracing !== Tracing.DISABLED) {
      // The only wildcard resource on this role: X-Ray's PutTraceSegments and PutTelemetryRecords
      // have no resource-level permissions, so tracing needs "*".
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions (tracing on).',
      });
    }
    if (tracing !== Tracing.ACTIVE) {
      Validations.of(this).acknowledge({
        id: 'Serverless-LambdaTracing',
        reason:
          'Active tracing is off unless the deployer turns it on (the stack prop `tracing`): X-Ray would record ' +
          'nearly every invocation of a quiet service, at $5 a million (docs/cost.md).',
      });
    }
  }
}
