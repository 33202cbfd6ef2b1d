import { Match, Rule } from 'aws-cdk-lib/aws-events';
import { SnsTopic } from 'aws-cdk-lib/aws-events-targets';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { CounterStack } from '../../lib/counter-stack.ts';

/**
 * The README's two rules on change events (docs/events.md), kept here so the infra tests synthesize
 * them: the README's code block must be this function's body, word for word
 * (test/infra/change-event-rules.test.ts).
 */
export function counterRules(counters: CounterStack, alerts: ITopic): Rule[] {
  // page-views reaches 1000: the one change that takes it from below 1000 to 1000 or more.
  const reached = new Rule(counters, 'PageViewsReached1000', {
    eventPattern: {
      source: ['counter-service'],
      detailType: ['Counter Changed'],
      detail: {
        name: ['page-views'],
        previous_value: Match.lessThan(1000),
        value: Match.greaterThanOrEqual(1000),
      },
    },
    targets: [new SnsTopic(alerts)],
  });

  // Low stock: a bounded counter (PUT {"value": 50, "min": 0}) named stock.* falls to 5 or below.
  const lowStock = new Rule(counters, 'LowStock', {
    eventPattern: {
      source: ['counter-service'],
      detailType: ['Counter Changed'],
      detail: {
        name: Match.prefix('stock.'),
        min: Match.exists(),
        previous_value: Match.greaterThan(5),
        value: Match.lessThanOrEqual(5),
      },
    },
    targets: [new SnsTopic(alerts)],
  });
  return [reached, lowStock];
}
