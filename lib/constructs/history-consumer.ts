import { Duration, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { StartingPosition, type SystemLogLevel, type Tracing } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { HISTORY_CONSUMER } from '../routes.ts';
import { HISTORY_STREAM } from '../stream-settings.ts';
import type { CounterTables } from './counter-tables.ts';
import { CounterFunction } from './node-function.ts';

export interface HistoryConsumerProps {
  /** The tables: the consumer reads the counters table's stream and writes the history table. */
  readonly tables: CounterTables;

  /**
   * How long one batch may take. A purge of a long history is many batch deletes, so this is
   * longer than an HTTP handler's.
   * @default Duration.seconds(60)
   */
  readonly timeout?: Duration;

  /**
   * Iterator age (how far the consumer lags behind the stream) above which the alarm fires, when
   * it stays there for five minutes.
   * @default Duration.seconds(60)
   */
  readonly maxIteratorAge?: Duration;

  /**
   * How long raw history entries are kept; DynamoDB's TTL deletes them some time after, and readers
   * stop seeing them at once. Rollups (the series) and current values are kept regardless.
   * @default - kept forever
   */
  readonly historyRetention?: Duration;

  /**
   * How long Lambda may gather stream records before invoking the consumer (the event source's
   * MaximumBatchingWindowInSeconds, up to 300 s). Changes of one counter in the same batch share
   * their rollup writes and one invocation, which makes sparse traffic cheaper (docs/cost.md), and
   * history lags by up to this much more.
   * @default - none: each poll's records go at once, and history lags by well under a second
   */
  readonly batchingWindow?: Duration;

  /**
   * Which of Lambda's own log lines the function's log group gets (CounterFunctionProps).
   * @default SystemLogLevel.WARN
   */
  readonly systemLogLevel?: SystemLogLevel;

  /**
   * X-Ray tracing of the function (CounterFunctionProps).
   * @default Tracing.DISABLED
   */
  readonly tracing?: Tracing;
}

/**
 * The counters stream -> the history table, with the event source settings of
 * lib/stream-settings.ts (which the local poller shares), a dead-letter queue for batches that
 * exhaust their retries, and alarms on lag, dead letters and errors.
 */
export class HistoryConsumer extends Construct {
  public readonly function: CounterFunction;
  public readonly deadLetterQueue: Queue;
  public readonly eventSource: DynamoEventSource;
  public readonly iteratorAgeAlarm: Alarm;
  public readonly deadLetterAlarm: Alarm;
  public readonly errorsAlarm: Alarm;

  constructor(scope: Construct, id: string, props: HistoryConsumerProps) {
    super(scope, id);
    const { tables } = props;

    this.function = new CounterFunction(this, 'Function', {
      entry: HISTORY_CONSUMER.entry,
      description: HISTORY_CONSUMER.description,
      timeout: props.timeout ?? Duration.seconds(60),
      ...(props.systemLogLevel === undefined ? {} : { systemLogLevel: props.systemLogLevel }),
      ...(props.tracing === undefined ? {} : { tracing: props.tracing }),
      environment: {
        HISTORY_TABLE: tables.history.tableName,
        ROLLUPS_TABLE: tables.rollups.tableName,
        ...(props.historyRetention === undefined
          ? {}
          : { HISTORY_RETENTION_DAYS: String(props.historyRetention.toDays({ integral: false })) }),
      },
    });
    for (const access of HISTORY_CONSUMER.tables) tables.grant(this.function, access);
    Validations.of(this.function).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason:
        "Only the stream event source mapping invokes this function; failed batches go to the mapping's " +
        'on-failure destination (the dead-letter queue below). A function DLQ applies to asynchronous ' +
        'invocations only.',
    });

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const isTheDeadLetterQueue =
      'This queue is itself the dead-letter destination of the history stream mapping; its messages ' +
      '(descriptions of failed batches) are inspected and replayed by an operator, never redriven onward.';
    Validations.of(this.deadLetterQueue).acknowledge(
      { id: 'AwsSolutions-SQS3', reason: isTheDeadLetterQueue },
      { id: 'Serverless-SQSRedrivePolicy', reason: isTheDeadLetterQueue },
    );

    this.eventSource = new DynamoEventSource(tables.counters, {
      startingPosition: StartingPosition[HISTORY_STREAM.startingPosition],
      batchSize: HISTORY_STREAM.batchSize,
      bisectBatchOnError: HISTORY_STREAM.bisectBatchOnError,
      retryAttempts: HISTORY_STREAM.retryAttempts,
      maxRecordAge: Duration.seconds(HISTORY_STREAM.maxRecordAgeSeconds),
      reportBatchItemFailures: HISTORY_STREAM.reportBatchItemFailures,
      parallelizationFactor: HISTORY_STREAM.parallelizationFactor,
      ...(props.batchingWindow === undefined ? {} : { maxBatchingWindow: props.batchingWindow }),
      onFailure: new SqsDlq(this.deadLetterQueue),
    });
    this.function.addEventSource(this.eventSource);

    this.iteratorAgeAlarm = new Alarm(this, 'IteratorAgeAlarm', {
      alarmDescription: 'History lags the counters stream by more than the threshold for 5 minutes.',
      metric: this.function.metric('IteratorAge', { statistic: 'Maximum', period: Duration.minutes(1) }),
      threshold: (props.maxIteratorAge ?? Duration.seconds(60)).toMilliseconds(),
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.deadLetterAlarm = new Alarm(this, 'DeadLetterAlarm', {
      alarmDescription: 'A stream batch exhausted its retries: some history is missing until it is replayed.',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        statistic: 'Maximum',
        period: Duration.minutes(1),
      }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.errorsAlarm = new Alarm(this, 'ErrorsAlarm', {
      alarmDescription:
        'The history consumer failed an invocation (a crash or timeout, not a reported record).',
      metric: this.function.metricErrors({ statistic: 'Sum', period: Duration.minutes(5) }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }

  public get alarms(): Alarm[] {
    return [this.iteratorAgeAlarm, this.deadLetterAlarm, this.errorsAlarm];
  }
}
