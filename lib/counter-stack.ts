import { CfnOutput, type Duration, type RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { EventBus, type IEventBus } from 'aws-cdk-lib/aws-events';
import type { SystemLogLevel, Tracing } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { AlarmNotifications } from './constructs/alarm-notifications.ts';
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
   * OK notifications, instead of the stack's own topic: subscribe e-mail, chat or paging to it.
   * @default - a topic of the stack's own (output AlarmTopicArn)
   */
  readonly alarmTopic?: ITopic;

  /**
   * An e-mail address subscribed to the alarm topic (the stack's own, or `alarmTopic`). AWS mails it
   * a confirmation link first; alarms arrive once it is followed. `bin/counter.ts` takes it from the
   * context: `npx cdk deploy -c alarmEmail=ops@example.com`.
   * @default - none: subscribe to the AlarmTopicArn output yourself
   */
  readonly alarmEmail?: string;

  /**
   * Concurrency reserved for the history consumer, so API traffic cannot starve it (docs/operations.md);
   * keep it at or above the counters stream's open shards. `false` reserves none, for accounts whose
   * concurrency limit has no room for a reservation.
   * @default 10
   */
  readonly historyReservedConcurrency?: number | false;

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

  /**
   * Change events: after a change's history entry is written, the history consumer publishes an
   * EventBridge event for it (`Counter Changed`, source `counter-service`), and one for every deleted
   * counter (`Counter Deleted`), at least once (docs/events.md). `true` publishes to the account's
   * default event bus, a bus to that bus; the consumer may put events on that bus alone. $1.00 per
   * million changes (docs/cost.md).
   * @default false - no events
   */
  readonly changeEvents?: boolean | IEventBus;
}

/**
 * The counter service: tables, the HTTP API, the history consumer, a dashboard over them, and alarms
 * that notify a topic.
 */
export class CounterStack extends Stack {
  public readonly tables: CounterTables;
  public readonly api: CounterApi;
  public readonly historyConsumer: HistoryConsumer;
  /** The topic every alarm notifies: `alarmTopic`, or the stack's own. */
  public readonly alarmTopic: ITopic;

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
      ...(props.historyReservedConcurrency === undefined
        ? {}
        : { reservedConcurrency: props.historyReservedConcurrency }),
      ...(changeEventsBus(this, props.changeEvents) ?? {}),
    });
    if (this.historyConsumer.changeEventsBus !== undefined) {
      new CfnOutput(this, 'ChangeEventsBusArn', {
        value: this.historyConsumer.changeEventsBus.eventBusArn,
        description: 'Change events (source counter-service) are published to this bus',
      });
    }
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
      description: 'npm run replay-dead-letters -- --queue-url',
    });
    new CfnOutput(this, 'HistoryConsumerFunctionName', {
      value: this.historyConsumer.function.functionName,
      description: 'npm run replay-dead-letters -- --function',
    });

    // Last, so that it finds every alarm above.
    const notifications = new AlarmNotifications(this, 'AlarmNotifications', {
      alarmsIn: this,
      ...(props.alarmTopic === undefined ? {} : { topic: props.alarmTopic }),
      ...(props.alarmEmail === undefined ? {} : { email: props.alarmEmail }),
    });
    this.alarmTopic = notifications.topic;
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.alarmTopic.topicArn,
      description: 'Every alarm notifies this SNS topic: subscribe e-mail, chat or paging to it',
    });
  }
}

/** The bus of the `changeEvents` prop: the account's default bus for `true`. */
function changeEventsBus(
  scope: Construct,
  setting: boolean | IEventBus | undefined,
): { changeEvents: IEventBus } | undefined {
  if (setting === undefined || setting === false) return undefined;
  if (setting === true)
    return { changeEvents: EventBus.fromEventBusName(scope, 'DefaultEventBus', 'default') };
  return { changeEvents: setting };
}
