import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AccountRootPrincipal, Role } from 'aws-cdk-lib/aws-iam';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { BUNDLING_STACKS } from 'aws-cdk-lib/cx-api';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidAlarmEmailError } from '../../lib/constructs/alarm-notifications.ts';
import { CounterStack, type CounterStackProps } from '../../lib/counter-stack.ts';
import { REPO_ROOT } from '../../lib/repo-root.ts';
import { isRecord, synthStack, TEST_ENV, testApp } from './synth.ts';
import { asArray, at, logicalIdOf, resourcesOfType, statementsOfRole } from './template-helpers.ts';

// Templates only (no bundles): what an operator reads in the synthesized stack.
const synth = (props: CounterStackProps = {}, id = 'CounterService') => synthStack(props, { id });

describe('the alarm notifications', () => {
  let stack: CounterStack;
  let template: Template;

  beforeAll(() => {
    ({ stack, template } = synth());
  });

  it("send every alarm's ALARM and OK to a topic of the stack's own when none is passed", () => {
    template.resourceCountIs('AWS::SNS::Topic', 1);
    const topic = { Ref: logicalIdOf(stack.alarmTopic) };
    const alarms = resourcesOfType(template, 'AWS::CloudWatch::Alarm');
    // 5xx, and errors and throttles of the 7 route functions and the consumer, iterator age, dead letters.
    expect(alarms).toHaveLength(1 + 2 * 8 + 2);
    for (const [id, alarm] of alarms) {
      expect(at(alarm, 'Properties', 'AlarmActions'), id).toEqual([topic]);
      expect(at(alarm, 'Properties', 'OKActions'), id).toEqual([topic]);
    }
    template.hasOutput('AlarmTopicArn', { Value: topic });
  });

  it('refuse publishing without TLS, and let only CloudWatch alarms of this account publish', () => {
    const [[, policy] = []] = resourcesOfType(template, 'AWS::SNS::TopicPolicy');
    const statements = asArray(at(policy, 'Properties', 'PolicyDocument', 'Statement'));
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Action: 'sns:Publish',
        Principal: '*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Action: 'sns:Publish',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Condition: {
          StringEquals: { 'aws:SourceAccount': '111111111111' },
          ArnLike: { 'aws:SourceArn': 'arn:aws:cloudwatch:eu-west-1:111111111111:alarm:*' },
        },
      }),
    );
    expect(statements).toHaveLength(2);
  });

  it('subscribe no one unless asked, and subscribe alarmEmail by e-mail', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    const { stack: subscribed, template: withEmail } = synth({ alarmEmail: 'ops@example.com' });
    withEmail.resourceCountIs('AWS::SNS::Subscription', 1);
    withEmail.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: logicalIdOf(subscribed.alarmTopic) },
    });
  });

  it('use a topic passed as alarmTopic instead of creating one, and subscribe alarmEmail to it', () => {
    const app = testApp({ bundling: false });
    const paging = new Topic(new Stack(app, 'Shared', { env: TEST_ENV }), 'Paging');
    const own = new CounterStack(app, 'CounterService', {
      env: TEST_ENV,
      alarmTopic: paging,
      alarmEmail: 'ops@example.com',
    });
    const passed = Template.fromStack(own);
    passed.resourceCountIs('AWS::SNS::Topic', 0);
    const [[, subscription] = []] = resourcesOfType(passed, 'AWS::SNS::Subscription');
    const topicArn = at(subscription, 'Properties', 'TopicArn');
    expect(JSON.stringify(topicArn)).toMatch(/^\{"Fn::ImportValue":"Shared:ExportsOutputRefPaging/);
    expect(at(subscription, 'Properties', 'Endpoint')).toBe('ops@example.com');
    for (const [id, alarm] of resourcesOfType(passed, 'AWS::CloudWatch::Alarm')) {
      expect(at(alarm, 'Properties', 'AlarmActions'), id).toEqual([topicArn]);
      expect(at(alarm, 'Properties', 'OKActions'), id).toEqual([topicArn]);
    }
    passed.hasOutput('AlarmTopicArn', { Value: topicArn });
  });

  it('refuse an alarmEmail that is not an e-mail address, before anything deploys', () => {
    for (const alarmEmail of ['ops', 'ops@example', 'two words@example.com', '@example.com']) {
      expect(() => synth({ alarmEmail }), alarmEmail).toThrow(InvalidAlarmEmailError);
    }
  });
});

describe('the API access log group', () => {
  it('is named under /aws/vendedlogs/, uniquely per stack, to stay out of the account-wide log resource policy', () => {
    const names = ['CounterService', 'CounterServiceStaging'].map((id) => {
      const { stack, template } = synth({}, id);
      return at(
        template.toJSON(),
        'Resources',
        logicalIdOf(stack.api.accessLogGroup),
        'Properties',
        'LogGroupName',
      );
    });
    expect(names[0]).toMatch(/^\/aws\/vendedlogs\/apigateway\/CounterService-Api-[0-9A-F]{8}-access$/);
    expect(names[1]).toMatch(/^\/aws\/vendedlogs\/apigateway\/CounterServiceStaging-Api-[0-9A-F]{8}-access$/);
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

describe('the CDK app (bin/counter.ts)', () => {
  it('is environment-agnostic whatever region the machine has, and takes alarmEmail from the context', () => {
    const outdir = mkdtempSync(path.join(tmpdir(), 'cdk-app-'));
    try {
      const cdkJson: unknown = JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8'));
      const context = isRecord(cdkJson) && isRecord(cdkJson.context) ? cdkJson.context : {};
      // As `cdk synth` runs it on a machine with no AWS configuration: the CLI then fills in us-east-1.
      execFileSync(process.execPath, ['--import', 'tsx', 'bin/counter.ts'], {
        cwd: REPO_ROOT,
        env: {
          PATH: process.env.PATH,
          CDK_OUTDIR: outdir,
          CDK_DEFAULT_REGION: 'us-east-1',
          CDK_DEFAULT_ACCOUNT: '123456789012',
          CDK_CONTEXT_JSON: JSON.stringify({
            ...context,
            [BUNDLING_STACKS]: [],
            alarmEmail: 'ops@example.com',
          }),
        },
        stdio: 'pipe',
      });
      const manifest: unknown = JSON.parse(readFileSync(path.join(outdir, 'manifest.json'), 'utf8'));
      expect(at(manifest, 'artifacts', 'CounterService', 'environment')).toBe(
        'aws://unknown-account/unknown-region',
      );
      const template = readFileSync(path.join(outdir, 'CounterService.template.json'), 'utf8');
      expect(template).not.toContain('us-east-1');
      expect(template).not.toContain('123456789012');
      expect(template).toContain('"Endpoint": "ops@example.com"');
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
