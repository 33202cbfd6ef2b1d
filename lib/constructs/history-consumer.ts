import { Duration, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import { StartingPosition, type SystemLogLevel, type Tracing } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { HISTORY_CONSUMER } from '../routes.ts';
import { HISTORY_STREAM } from '../stream-settings.ts';
import { anyOccurrenceAlarm } from './any-occurrence-alarm.ts';
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
   * Concurrency reserved for the consumer, so that a burst of API traffic (or anything else in the
   * account) cannot take all of the account's concurrency and stall history. It is also the most the
   * consumer may use: keep it at or above the stream's open shards (one invocation each). `false`
   * reserves none, for accounts whose concurrency limit leaves no room for a reservation
   * (docs/operations.md, "Reserved concurrency").
   * @default 10
   */
  readonly reservedConcurrency?: number | false;

  /**
   * X-Ray tracing of the function (CounterFunctionProps).
   * @default Tracing.DISABLED
   */
  readonly tracing?: Tracing;

  /**
   * The event bus the consumer publishes a change event to for every change after its history entry
   * is written, and one for every deleted counter (docs/events.md). The function may put events on
   * this bus alone.
   * @default - no change events
   */
  readonly changeEvents?: IEventBus;
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
  public readonly throttlesAlarm: Alarm;
  /** The bus change events go to, when they are on. */
  public readonly changeEventsBus: IEventBus | undefined;
  private readonly streamArn: string;

  constructor(scope: Construct, id: string, props: HistoryConsumerProps) {
    super(scope, id);
    // Checked before the stream, so a bad setting is reported whatever else is wrong.
    const reserved = reservedConcurrencyOf(props.reservedConcurrency);
    this.streamArn = streamArnOf(props.tables);
    this.function = this.createFunction(props, reserved);
    this.changeEventsBus = props.changeEvents;
    this.grantFunction(props);
    this.deadLetterQueue = this.createDeadLetterQueue();
    this.eventSource = this.subscribe(props);
    this.iteratorAgeAlarm = this.createIteratorAgeAlarm(props.maxIteratorAge ?? Duration.seconds(60));
    this.deadLetterAlarm = anyOccurrenceAlarm(
      this,
      'DeadLetterAlarm',
      'A stream batch exhausted its retries: some history is missing until it is replayed.',
      this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        statistic: 'Maximum',
        period: Duration.minutes(1),
      }),
    );
    this.errorsAlarm = anyOccurrenceAlarm(
      this,
      'ErrorsAlarm',
      'The history consumer failed an invocation (a crash or timeout, not a reported record).',
      this.function.metricErrors({ statistic: 'Sum', period: Duration.minutes(5) }),
    );
    this.throttlesAlarm = anyOccurrenceAlarm(
      this,
      'ThrottlesAlarm',
      'The history consumer was throttled in the last 5 minutes: its reserved concurrency is below the ' +
        "stream's open shards, or the account's concurrency ran out; history lags until it gets through.",
      this.function.metricThrottles({ statistic: 'Sum', period: Duration.minutes(5) }),
    );
  }

  /** The consumer, told only the tables it may touch, the retention, and the bus of change events. */
  private createFunction(props: HistoryConsumerProps, reserved: number | undefined): CounterFunction {
    return new CounterFunction(this, 'Function', {
      entry: HISTORY_CONSUMER.entry,
      description: HISTORY_CONSUMER.description,
      timeout: props.timeout ?? Duration.seconds(60),
      ...(reserved === undefined ? {} : { reservedConcurrentExecutions: reserved }),
      ...(props.systemLogLevel === undefined ? {} : { systemLogLevel: props.systemLogLevel }),
      ...(props.tracing === undefined ? {} : { tracing: props.tracing }),
      environment: {
        ...props.tables.environmentFor(HISTORY_CONSUMER.tables),
        ...(props.historyRetention === undefined
          ? {}
          : { HISTORY_RETENTION_DAYS: String(props.historyRetention.toDays({ integral: false })) }),
        // Its ARN: PutEvents takes a name or an ARN, and an ARN also names another account's bus.
        ...(props.changeEvents === undefined ? {} : { CHANGE_EVENTS_BUS: props.changeEvents.eventBusArn }),
      },
    });
  }

  /** Exactly the table access its spec names, and PutEvents on the change events' bus alone. */
  private grantFunction(props: HistoryConsumerProps): void {
    props.tables.grantAccess(this.function, HISTORY_CONSUMER.tables);
    props.changeEvents?.grantPutEventsTo(this.function);
    Validations.of(this.function).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason:
        "Only the stream event source mapping invokes this function; failed batches go to the mapping's " +
        'on-failure destination (the dead-letter queue below). A function DLQ applies to asynchronous ' +
        'invocations only.',
    });
  }

  /** Where batches that exhaust their retries are described, for an operator to replay. */
  private createDeadLetterQueue(): Queue {
    const queue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const isTheDeadLetterQueue =
      'This queue is itself the dead-letter destination of the history stream mapping; its messages ' +
      '(descriptions of failed batches) are inspected and replayed by an operator, never redriven onward.';
    Validations.of(queue).acknowledge(
      { id: 'AwsSolutions-SQS3', reason: isTheDeadLetterQueue },
      { id: 'Serverless-SQSRedrivePolicy', reason: isTheDeadLetterQueue },
    );
    return queue;
  }

  /** The counters stream as the function's event source, with the settings the local poller shares. */
  private subscribe(props: HistoryConsumerProps): DynamoEventSource {
    const eventSource = new DynamoEventSource(props.tables.counters, {
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
    this.function.addEventSource(eventSource);
    return eventSource;
  }

  /** Lag, the one alarm that waits: a burst may age the iterator briefly without anything wrong. */
  private createIteratorAgeAlarm(maxIteratorAge: Duration): Alarm {
    return new Alarm(this, 'IteratorAgeAlarm', {
      alarmDescription: 'History lags the counters stream by more than the threshold for 5 minutes.',
      metric: this.function.metric('IteratorAge', { statistic: 'Maximum', period: Duration.minutes(1) }),
      threshold: maxIteratorAge.toMilliseconds(),
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }

  public get alarms(): Alarm[] {
    return [this.iteratorAgeAlarm, this.deadLetterAlarm, this.errorsAlarm, this.throttlesAlarm];
  }

  /**
   * What `npm run replay-dead-letters` needs: read and delete the dead letters, read their records
   * from the counters stream, and invoke the consumer with them (docs/operations.md).
   */
  public grantReplay(grantee: iam.IGrantable): iam.Grant {
    return this.deadLetterQueue
      .grantConsumeMessages(grantee)
      .combine(
        iam.Grant.addToPrincipal({
          grantee,
          actions: ['dynamodb:DescribeStream', 'dynamodb:GetShardIterator', 'dynamodb:GetRecords'],
          resourceArns: [this.streamArn],
        }),
      )
      .combine(this.function.grantInvoke(grantee));
  }
}

/** The counters table's stream: without one there is nothing to consume. */
function streamArnOf(tables: CounterTables): string {
  const streamArn = tables.counters.tableStreamArn;
  if (streamArn === undefined) throw new Error('The counters table has no stream to consume');
  return streamArn;
}

/** A reservation of whole invocations; `false` reserves none. */
function reservedConcurrencyOf(setting: number | false | undefined): number | undefined {
  if (setting === false) return undefined;
  const reserved = setting ?? 10;
  if (!Number.isInteger(reserved) || reserved < 1) {
    throw new Error(
      `The history consumer's reserved concurrency must be a whole number of at least 1, or false for none (got ${reserved}).`,
    );
  }
  return reserved;
}
