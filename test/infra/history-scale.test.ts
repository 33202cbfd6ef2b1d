import { Duration, Stack } from 'aws-cdk-lib';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { ROLLUPS_TABLE } from '../../functions/counter/table.ts';
import type { CounterStackProps } from '../../lib/counter-stack.ts';
import { synthStack, TEST_ENV, testApp } from './synth.ts';
import { at, logicalIdOf } from './template-helpers.ts';

/** A stack built with `props` without bundling (these assertions need no function code). */
function synth(props: CounterStackProps = {}) {
  const { stack, template: synthesized } = synthStack(props);
  const template = synthesized.toJSON();
  const consumer = logicalIdOf(stack.historyConsumer.function);
  const resources = at(template, 'Resources');
  const mapping = Object.values(resources && typeof resources === 'object' ? resources : {}).find(
    (resource) => at(resource, 'Type') === 'AWS::Lambda::EventSourceMapping',
  );
  return {
    rollups: at(template, 'Resources', logicalIdOf(stack.tables.rollups)),
    consumerEnvironment: at(template, 'Resources', consumer, 'Properties', 'Environment', 'Variables'),
    mapping: at(mapping, 'Properties'),
  };
}

describe('history at scale', () => {
  it('keeps series rollups in their own on-demand, retained table keyed by series and bucket start, never expiring', () => {
    const { rollups } = synth();

    expect(at(rollups, 'DeletionPolicy')).toBe('Retain');
    expect(at(rollups, 'Properties', 'BillingMode')).toBe('PAY_PER_REQUEST');
    expect(at(rollups, 'Properties', 'KeySchema')).toEqual([
      { AttributeName: ROLLUPS_TABLE.partitionKey.name, KeyType: 'HASH' },
      { AttributeName: ROLLUPS_TABLE.sortKey?.name, KeyType: 'RANGE' },
    ]);
    expect(at(rollups, 'Properties', 'TimeToLiveSpecification')).toBeUndefined();
  });

  it('keeps raw history forever unless a retention is given', () => {
    const { consumerEnvironment } = synth();

    expect(consumerEnvironment).toHaveProperty('ROLLUPS_TABLE');
    expect(consumerEnvironment).not.toHaveProperty('HISTORY_RETENTION_DAYS');
  });

  it('hands the retention to the consumer in days', () => {
    const { consumerEnvironment } = synth({ historyRetention: Duration.days(90) });

    expect(consumerEnvironment).toMatchObject({ HISTORY_RETENTION_DAYS: '90' });
  });

  it('invokes the consumer without a batching window unless one is given (docs/cost.md)', () => {
    expect(synth().mapping).not.toHaveProperty('MaximumBatchingWindowInSeconds');
    expect(synth({ historyBatchingWindow: Duration.seconds(10) }).mapping).toMatchObject({
      MaximumBatchingWindowInSeconds: 10,
      BatchSize: 100,
    });
  });
});

describe('alarm notifications', () => {
  function alarms(props: CounterStackProps, app = testApp({ bundling: false })) {
    const resources = at(synthStack(props, { app }).template.toJSON(), 'Resources');
    return Object.values(resources && typeof resources === 'object' ? resources : {}).filter(
      (resource) => at(resource, 'Type') === 'AWS::CloudWatch::Alarm',
    );
  }

  it('sends every alarm to the topic given, on ALARM and on OK', () => {
    const app = testApp({ bundling: false });
    const topicStack = new Stack(app, 'Ops', { env: TEST_ENV });
    const topic = new Topic(topicStack, 'Pager');

    const found = alarms({ alarmTopic: topic }, app);

    expect(found.length).toBeGreaterThanOrEqual(5);
    for (const alarm of found) {
      expect(JSON.stringify(at(alarm, 'Properties', 'AlarmActions'))).toMatch(/Pager/);
      expect(JSON.stringify(at(alarm, 'Properties', 'OKActions'))).toMatch(/Pager/);
    }
  });

  it("sends every alarm to the stack's own topic by default (test/infra/operations.test.ts)", () => {
    for (const alarm of alarms({})) {
      expect(JSON.stringify(at(alarm, 'Properties', 'AlarmActions'))).toMatch(/AlarmNotificationsTopic/);
    }
  });
});
