import {
  CfnOutput,
  CrossStackReferences,
  Duration,
  ReferenceStrength,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import {
  DefinitionBody,
  JsonPath,
  StateMachine,
  StateMachineType,
  TaskInput,
} from 'aws-cdk-lib/aws-stepfunctions';
import { HttpMethod } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import type { CounterApi } from '../../lib/constructs/counter-api.ts';
import { CounterFunction } from '../../lib/constructs/node-function.ts';
import { acknowledgeInvokeWildcards } from './acknowledge-invoke-wildcards.ts';
import { CounterRouteTask } from './counter-route-task.ts';
import { JOB_COUNTER_PREFIX, WORKFLOW_COUNTER } from './names.ts';

export interface CallersStackProps extends StackProps {
  /** The counter service's API (`CounterStack.api`), here from another stack of the same app. */
  readonly counterApi: CounterApi;
}

/**
 * Errors after which the workflow sends its increment again: throttling and the service failing. A
 * Step Functions API Gateway task fails with `ApiGateway.<status>`. The resend carries the same
 * Idempotency-Key, so it cannot count twice.
 */
const RETRIED_ERRORS = [
  'ApiGateway.429',
  'ApiGateway.500',
  'ApiGateway.502',
  'ApiGateway.503',
  'ApiGateway.504',
];

/**
 * AWS services as callers of the counter service (docs/callers.md), each with only the permission it
 * needs: a Lambda function that may increment the counters under `jobs.`, and a Step Functions
 * workflow that may increment its one counter.
 */
export class CallersStack extends Stack {
  /** Counts job runs: `{"job": "nightly-export"}` adds 1 to `jobs.nightly-export`. */
  public readonly jobWorker: CounterFunction;
  /** Counts its own executions in `workflows.nightly-report`. */
  public readonly workflow: StateMachine;
  /** The workflow's one call to the API. */
  public readonly countRun: CounterRouteTask;

  constructor(scope: Construct, id: string, props: CallersStackProps) {
    super(scope, id, props);
    const { counterApi } = props;
    // CloudFormation exports: the counter service's stack cannot lose its API while callers use it.
    CrossStackReferences.of(this).consume(ReferenceStrength.STRONG);
    this.jobWorker = this.createJobWorker(counterApi);
    const counterPath = `/counters/${WORKFLOW_COUNTER}`;
    // Any stage (the API has one, $default), this method, this path: the one route.
    const routeArn = counterApi.httpApi.arnForExecuteApi('POST', counterPath, '*');
    this.countRun = this.createCountRun(counterApi, counterPath, routeArn);
    this.workflow = this.createWorkflow(counterPath, routeArn);
    new CfnOutput(this, 'JobWorkerFunctionName', {
      value: this.jobWorker.functionName,
      description: `aws lambda invoke --function-name ... --payload '{"job":"nightly-export"}'`,
    });
    new CfnOutput(this, 'NightlyReportStateMachineArn', {
      value: this.workflow.stateMachineArn,
      description: 'aws stepfunctions start-execution --state-machine-arn ...',
    });
  }

  /** The Lambda caller, allowed to increment the counters under `jobs.` and nothing else. */
  private createJobWorker(counterApi: CounterApi): CounterFunction {
    // The house function construct: Node.js 22 on arm64, bundled by esbuild without Docker, a role that
    // starts with nothing but writing to its own log group.
    const jobWorker = new CounterFunction(this, 'JobWorker', {
      entry: 'examples/callers/functions/count-job.ts',
      description: `Example caller: counts job runs in ${JOB_COUNTER_PREFIX}* through the counter API`,
      // The client's retries (4 attempts of at most 5 s) fit inside it.
      timeout: Duration.seconds(30),
      environment: { COUNTER_API_URL: counterApi.url },
    });
    // execute-api:Invoke on POST/counters/jobs.* and nothing else.
    const jobGrant = counterApi.grantIncrement(jobWorker, { prefix: JOB_COUNTER_PREFIX });
    acknowledgeInvokeWildcards(
      jobWorker.role ?? missing('the job worker has no role'),
      jobGrant.principalStatements.flatMap((statement) => statement.resources),
      `The wildcards are the grant: POST of the counters named ${JOB_COUNTER_PREFIX}* (a name cannot hold "/"), ` +
        'on any stage of the API, which has one ($default).',
    );
    Validations.of(jobWorker).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason:
        'The example worker is invoked synchronously (aws lambda invoke, or a caller of yours), and the caller ' +
        'sees any failure. Give it an on-failure destination when an asynchronous source invokes it.',
    });
    return jobWorker;
  }

  /** The workflow's one call: POST of its counter, signed by the workflow's role, resent on failure. */
  private createCountRun(counterApi: CounterApi, counterPath: string, routeArn: string): CounterRouteTask {
    const countRun = new CounterRouteTask(this, 'CountRun', {
      apiId: counterApi.httpApi.apiId,
      apiStack: Stack.of(counterApi),
      method: HttpMethod.POST,
      apiPath: counterPath,
      invokeArn: routeArn,
      // One key per execution: a retried call, or a redriven execution, is answered from the first
      // call's record instead of counting again. A hash, since the key must be printable ASCII and an
      // execution's name need not be.
      headers: TaskInput.fromObject({
        'Idempotency-Key': JsonPath.array(JsonPath.hash(JsonPath.executionId, 'SHA-256')),
      }),
      // The counter after the increment.
      outputPath: '$.ResponseBody',
    });
    countRun.addRetry({
      errors: RETRIED_ERRORS,
      interval: Duration.seconds(1),
      backoffRate: 2,
      maxAttempts: 5,
    });
    return countRun;
  }

  /** The Step Functions caller: a Standard workflow whose only state is the count. */
  private createWorkflow(counterPath: string, routeArn: string): StateMachine {
    const workflow = new StateMachine(this, 'NightlyReport', {
      comment: `Example caller: counts its executions in ${WORKFLOW_COUNTER} through the counter API`,
      // In a real workflow the increment is one step among its own; here it is the only one.
      definitionBody: DefinitionBody.fromChainable(this.countRun),
      stateMachineType: StateMachineType.STANDARD,
      timeout: Duration.minutes(5),
    });
    acknowledgeInvokeWildcards(
      workflow.role,
      [routeArn],
      `The only wildcard is the stage: POST of ${counterPath} on any stage of the API, which has one ($default).`,
    );
    const untraced =
      'X-Ray is off, as it is on the counter service by default (docs/cost.md): pass tracingEnabled: true to ' +
      'trace executions, which then also needs X-Ray permissions on "*".';
    Validations.of(workflow).acknowledge(
      {
        id: 'AwsSolutions-SF1',
        reason:
          "A Standard workflow's execution history already records every state with its input and output, for " +
          '90 days; CloudWatch Logs would add per-event charges and log-delivery permissions on "*" to its role.',
      },
      { id: 'AwsSolutions-SF2', reason: untraced },
      { id: 'Serverless-StepFunctionStateMachineXray', reason: untraced },
    );
    return workflow;
  }
}

function missing(what: string): never {
  throw new Error(what);
}
