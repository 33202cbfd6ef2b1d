import { Alarm, ComparisonOperator, type IMetric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';

/**
 * An alarm that fires on a single occurrence in one period of its metric: for events that should
 * never happen (a 5xx, a crash, a throttle, a dead letter), where even one wants a person. No data
 * is no event, so a quiet service stays OK.
 */
export function anyOccurrenceAlarm(
  scope: Construct,
  id: string,
  description: string,
  metric: IMetric,
): Alarm {
  return new Alarm(scope, id, {
    alarmDescription: description,
    metric,
    threshold: 1,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  });
}
