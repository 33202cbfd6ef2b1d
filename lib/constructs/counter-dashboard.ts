import { Duration } from 'aws-cdk-lib';
import { AlarmStatusWidget, Dashboard, GraphWidget, type IMetric } from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import type { CounterApi } from './counter-api.ts';
import type { HistoryConsumer } from './history-consumer.ts';
import type { CounterFunction } from './node-function.ts';

export interface CounterDashboardProps {
  readonly api: CounterApi;
  readonly consumer: HistoryConsumer;
}

/** Every graph plots one-minute points. */
const period = Duration.minutes(1);

/** One page for an operator: alarm states, API traffic and errors, function health, history lag. */
export class CounterDashboard extends Construct {
  public readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: CounterDashboardProps) {
    super(scope, id);
    const { api, consumer } = props;
    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    // One call per row, top to bottom: what is wrong first, then where to look.
    this.dashboard.addWidgets(
      new AlarmStatusWidget({ title: 'Alarms', alarms: [...api.alarms, ...consumer.alarms], width: 24 }),
    );
    this.dashboard.addWidgets(...apiRow(api));
    this.dashboard.addWidgets(...functionsRow(api, consumer));
    this.dashboard.addWidgets(...historyRow(consumer));
  }
}

/** Traffic and errors beside latency, as API Gateway sees them. */
function apiRow(api: CounterApi): GraphWidget[] {
  return [
    new GraphWidget({
      title: 'API requests and errors',
      left: [api.httpApi.metricCount({ period, statistic: 'Sum' })],
      right: [
        api.httpApi.metricClientError({ period, statistic: 'Sum' }),
        api.httpApi.metricServerError({ period, statistic: 'Sum' }),
      ],
      width: 12,
    }),
    new GraphWidget({
      title: 'API latency (p50, p99)',
      left: [
        api.httpApi.metricLatency({ period, statistic: 'p50' }),
        api.httpApi.metricLatency({ period, statistic: 'p99' }),
      ],
      width: 12,
    }),
  ];
}

/** Errors and throttles of every function (the routes' and the consumer's); the routes' duration. */
function functionsRow(api: CounterApi, consumer: HistoryConsumer): GraphWidget[] {
  const perFunction = (metric: (fn: CounterFunction) => IMetric): IMetric[] =>
    [...api.functions.values()].map(metric);
  return [
    new GraphWidget({
      title: 'Function errors',
      left: [
        ...perFunction((fn) => fn.metricErrors({ period, statistic: 'Sum' })),
        consumer.function.metricErrors({ period, statistic: 'Sum' }),
      ],
      width: 8,
    }),
    new GraphWidget({
      title: 'Function throttles',
      left: [
        ...perFunction((fn) => fn.metricThrottles({ period, statistic: 'Sum' })),
        consumer.function.metricThrottles({ period, statistic: 'Sum' }),
      ],
      width: 8,
    }),
    new GraphWidget({
      title: 'Function duration (p99)',
      left: perFunction((fn) => fn.metricDuration({ period, statistic: 'p99' })),
      width: 8,
    }),
  ];
}

/** How far history lags, and whether any of it is waiting in the dead-letter queue. */
function historyRow(consumer: HistoryConsumer): GraphWidget[] {
  return [
    new GraphWidget({
      title: 'History lag: stream iterator age (max, ms)',
      left: [consumer.function.metric('IteratorAge', { period, statistic: 'Maximum' })],
      width: 12,
    }),
    new GraphWidget({
      title: 'History dead letters (visible)',
      left: [
        consumer.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
      ],
      width: 12,
    }),
  ];
}
