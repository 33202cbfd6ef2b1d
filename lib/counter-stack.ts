import { CfnOutput, type Duration, type RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { SystemLogLevel, Tracing } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { CounterApi, type ThrottleProps } from './constructs/counter-api.ts';
import { CounterDashboard } from './constructs/counter-dashboard.ts';
import { CounterTables } from './constructs/counter-tables.ts';
import { HistoryConsumer } from './constructs/history-consumer.ts';

export interface CounterStackProps extends StackProps {
  /**
   * Stage-wide API throttling.
   * @default { rateLimit: 1000, burstLimit: 2000 }
   */
  readonly throttle?: ThrottleProps;

  /**
   * Where every alarm (5xx, throttles, function errors, iterator age, dead letters) sends its ALARM and
   * OK notifications: subscribe e-mail, chat or paging to it.
   * @default - alarms only change state, visible on the dashboard and in CloudWatch
   */
  readonly alarmTopic?: ITopic;

  /**
   * How long raw history entries are kept (series rollups and values are kept regardless).
   * @default - kept forever
   */
  readonly historyRetention?: Duration;

  /**
   * How long the stream may gather changes before the history consumer runs (up to 5 minutes): a
   * counter's changes in one batch share their rollup writes, which lowers the price of sparse
   * traffic (docs/cost.md) and delays history and series by up to this much.
   * @default - none (history follows within about a second)
   */
  readonly historyBatchingWindow?: Duration;

  /**
   * What happens to the tables when they leave the stack; pass DESTROY for throwaway dev stacks.
   * @default RemovalPolicy.RETAIN
   */
  readonly tableRemovalPolicy?: RemovalPolicy;

  /**
   * Browser origins allowed to call the API with CORS (`https://host[:port]`); `*` is refused.
   * @default - no CORS: no preflight answers, no CORS headers
   */
  readonly corsAllowOrigins?: string[];

  /**
   * Which of Lambda's own log lines every function's log group gets. WARN drops the start and report
   * lines of each invocation (docs/cost.md: they would cost more than the rest of the logs); pass
   * SystemLogLevel.INFO to have them, for instance to read memory use per invocation.
   * @default SystemLogLevel.WARN
   */
  readonly functionSystemLogLevel?: SystemLogLevel;

  /**
   * X-Ray tracing of every function. Tracing.ACTIVE records a trace of nearly every invocation at low
   * traffic, each DynamoDB call a subsegment in it ($5 a million traces: up to $10 a million
   * increments, more than all the rest; docs/cost.md). Off by default.
   * @default Tracing.DISABLED
   */
  readonly tracing?: Tracing;
}

/** The counter service: tables, the HTTP API, the history consumer, and a dashboard over them. */
export class CounterStack extends Stack {
  public readonly tables: CounterTables;
  public readonly api: CounterApi;
  public readonly historyConsumer: HistoryConsumer;

  constructor(scope: Construct, id: string, props: CounterStackProps = {}) {
    super(scope, id, props);

    this.tables = new CounterTables(this, 'Tables', { removalPolicy: props.tableRemovalPolicy });
    this.api = new CounterApi(this, 'Api', {
      tables: this.tables,
      throttle: props.throttle,
      corsAllowOrigins: props.corsAllowOrigins,
      systemLogLevel: props.functionSystemLogLevel,
      tracing: props.tracing,
    });
    this.historyConsumer = new HistoryConsumer(this, 'HistoryConsumer', {
      tables: this.tables,
      ...(props.historyRetention === undefined ? {} : { historyRetention: props.historyRetention }),
      ...(props.historyBatchingWindow === undefined ? {} : { batchingWindow: props.historyBatchingWindow }),
      ...(props.functionSystemLogLevel === undefined ? {} : { systemLogLevel: props.functionSystemLogLevel }),
      ...(props.tracing === undefined ? {} : { tracing: props.tracing }),
    });
    new CounterDashboard(this, 'Dashboard', { api: this.api, consumer: this.historyConsumer });

    new CfnOutput(this, 'ApiUrl', {
      value: this.api.url,
      description: 'Base URL of the API (SigV4, service execute-api)',
    });
    new CfnOutput(this, 'ApiId', {
      value: this.api.httpApi.apiId,
      description: 'For execute-api:Invoke ARNs',
    });
    new CfnOutput(this, 'CountersTableName', { value: this.tables.counters.tableName });
    new CfnOutput(this, 'HistoryTableName', { value: this.tables.history.tableName });
    new CfnOutput(this, 'IdempotencyTableName', { value: this.tables.idempotency.tableName });
    new CfnOutput(this, 'HistoryDeadLetterQueueUrl', {
      value: this.historyConsumer.deadLetterQueue.queueUrl,
    });

    if (props.alarmTopic !== undefined) {
      const action = new SnsAction(props.alarmTopic);
      for (const alarm of this.node.findAll().filter((construct) => construct instanceof Alarm)) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
    }
  }
}
