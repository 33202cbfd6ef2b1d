import * as iam from 'aws-cdk-lib/aws-iam';
import {
  AuthType,
  CallApiGatewayHttpApiEndpoint,
  type CallApiGatewayHttpApiEndpointProps,
} from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';

export interface CounterRouteTaskProps
  extends Omit<CallApiGatewayHttpApiEndpointProps, 'authType' | 'stageName'> {
  /**
   * The `execute-api:Invoke` resource of the one route the task calls, e.g.
   * `httpApi.arnForExecuteApi('POST', '/counters/workflows.nightly-report')`.
   */
  readonly invokeArn: string;
}

/**
 * A Step Functions task that calls one route of the counter API, signed with the state machine's role
 * (`AuthType.IAM_ROLE`), and a role allowed exactly that route.
 *
 * Why not CallApiGatewayHttpApiEndpoint as it comes: its IAM statement is built from `stageName` and
 * `apiPath` as given, and reads `.../undefined/POST/...` when `stageName` is left out
 * (aws/aws-cdk#17464), which is how a task calls an HTTP API's `$default` stage, the one this API
 * serves. So the statement CDK would add is replaced by one on `invokeArn`.
 */
export class CounterRouteTask extends CallApiGatewayHttpApiEndpoint {
  protected override readonly taskPolicies: iam.PolicyStatement[];

  constructor(scope: Construct, id: string, props: CounterRouteTaskProps) {
    const { invokeArn, ...taskProps } = props;
    super(scope, id, { ...taskProps, authType: AuthType.IAM_ROLE });
    this.taskPolicies = [
      new iam.PolicyStatement({ actions: ['execute-api:Invoke'], resources: [invokeArn] }),
    ];
  }
}
