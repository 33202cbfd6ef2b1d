import { Duration } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AccountRootPrincipal, Role } from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { CounterStack, type CounterStackProps } from '../../lib/counter-stack.ts';
import { synthStack, TEST_ENV, testApp } from './synth.ts';
import { at, logicalIdOf, statementsOfRole } from './template-helpers.ts';

// lib/constructs/history-consumer.ts in the counter stack: the stream consumer's settings, its
// reservation and what an operator needs to replay its dead letters. (Its event source mapping and
// queue as deployed: counter-stack.test.ts.)

// Templates only (no bundles): what an operator reads in the synthesized stack.
const synth = (props: CounterStackProps = {}, id = 'CounterService') => synthStack(props, { id });

/** A stack built with `props` without bundling (these assertions need no function code). */
function consumerOf(props: CounterStackProps = {}) {
  const { stack, template: synthesized } = synthStack(props);
  const template = synthesized.toJSON();
  const consumer = logicalIdOf(stack.historyConsumer.function);
  const resources = at(template, 'Resources');
  const mapping = Object.values(resources && typeof resources === 'object' ? resources : {}).find(
    (resource) => at(resource, 'Type') === 'AWS::Lambda::EventSourceMapping',
  );
  return {
    consumerEnvironment: at(template, 'Resources', consumer, 'Properties', 'Environment', 'Variables'),
    mapping: at(mapping, 'Properties'),
  };
}

describe('history at scale', () => {
  it('keeps raw history forever unless a retention is given', () => {
    const { consumerEnvironment } = consumerOf();

    expect(consumerEnvironment).toHaveProperty('ROLLUPS_TABLE');
    expect(consumerEnvironment).not.toHaveProperty('HISTORY_RETENTION_DAYS');
  });

  it('hands the retention to the consumer in days', () => {
    const { consumerEnvironment } = consumerOf({ historyRetention: Duration.days(90) });

    expect(consumerEnvironment).toMatchObject({ HISTORY_RETENTION_DAYS: '90' });
  });

  it('invokes the consumer without a batching window unless one is given (docs/cost.md)', () => {
    expect(consumerOf().mapping).not.toHaveProperty('MaximumBatchingWindowInSeconds');
    expect(consumerOf({ historyBatchingWindow: Duration.seconds(10) }).mapping).toMatchObject({
      MaximumBatchingWindowInSeconds: 10,
      BatchSize: 100,
    });
  });
});

describe("the history consumer's concurrency", () => {
  const reservedOf = (props: CounterStackProps) => {
    const { stack, template } = synth(props);
    return at(
      template.toJSON(),
      'Resources',
      logicalIdOf(stack.historyConsumer.function),
      'Properties',
      'ReservedConcurrentExecutions',
    );
  };

  it('is reserved, 10 by default, so API traffic cannot starve history', () => {
    expect(reservedOf({})).toBe(10);
  });

  it('takes another reservation, or none with false', () => {
    expect(reservedOf({ historyReservedConcurrency: 40 })).toBe(40);
    expect(reservedOf({ historyReservedConcurrency: false })).toBeUndefined();
  });

  it('refuses a reservation that is not a whole number of at least 1', () => {
    for (const historyReservedConcurrency of [0, -1, 2.5]) {
      expect(() => synth({ historyReservedConcurrency }), String(historyReservedConcurrency)).toThrow(
        /reserved concurrency must be a whole number of at least 1/,
      );
    }
  });

  it('leaves the route functions unreserved', () => {
    const { stack, template } = synth();
    for (const fn of stack.api.functions.values()) {
      expect(
        at(template.toJSON(), 'Resources', logicalIdOf(fn), 'Properties', 'ReservedConcurrentExecutions'),
        fn.node.id,
      ).toBeUndefined();
    }
  });
});

describe('replaying dead letters', () => {
  it('outputs the dead-letter queue and the consumer that npm run replay-dead-letters needs', () => {
    const { stack, template } = synth();
    template.hasOutput('HistoryDeadLetterQueueUrl', {
      Value: { Ref: logicalIdOf(stack.historyConsumer.deadLetterQueue) },
    });
    template.hasOutput('HistoryConsumerFunctionName', {
      Value: { Ref: logicalIdOf(stack.historyConsumer.function) },
    });
  });

  it('grantReplay allows exactly reading and deleting the dead letters, reading the stream and invoking the consumer', () => {
    const app = testApp({ bundling: false });
    const service = new CounterStack(app, 'CounterService', { env: TEST_ENV });
    const operator = new Role(service, 'Operator', { assumedBy: new AccountRootPrincipal() });
    service.historyConsumer.grantReplay(operator);
    const template = Template.fromStack(service);

    const queue = logicalIdOf(service.historyConsumer.deadLetterQueue);
    const consumer = logicalIdOf(service.historyConsumer.function);
    const counters = logicalIdOf(service.tables.counters);
    const granted = statementsOfRole(template, logicalIdOf(operator)).map((statement) => ({
      actions: statement.actions.toSorted(),
      resources: statement.resources,
    }));
    expect(granted).toEqual(
      expect.arrayContaining([
        {
          actions: [
            'sqs:ChangeMessageVisibility',
            'sqs:DeleteMessage',
            'sqs:GetQueueAttributes',
            'sqs:GetQueueUrl',
            'sqs:ReceiveMessage',
          ],
          resources: [{ 'Fn::GetAtt': [queue, 'Arn'] }],
        },
        {
          actions: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
          resources: [{ 'Fn::GetAtt': [counters, 'StreamArn'] }],
        },
      ]),
    );
    const invoke = granted.filter((statement) => statement.actions.includes('lambda:InvokeFunction'));
    expect(invoke).toHaveLength(1);
    expect(JSON.stringify(invoke[0]?.resources)).toContain(consumer);
    expect(granted.flatMap((statement) => statement.actions).toSorted()).toEqual([
      'dynamodb:DescribeStream',
      'dynamodb:GetRecords',
      'dynamodb:GetShardIterator',
      'lambda:InvokeFunction',
      'sqs:ChangeMessageVisibility',
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'sqs:GetQueueUrl',
      'sqs:ReceiveMessage',
    ]);
  });
});
