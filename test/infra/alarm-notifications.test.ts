import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidAlarmEmailError } from '../../lib/constructs/alarm-notifications.ts';
import { CounterStack, type CounterStackProps } from '../../lib/counter-stack.ts';
import { synthStack, TEST_ENV, testApp } from './synth.ts';
import { asArray, at, logicalIdOf, resourcesOfType } from './template-helpers.ts';

// lib/constructs/alarm-notifications.ts in the counter stack: the topic every alarm notifies.

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

  it("sends every alarm to the stack's own topic by default", () => {
    for (const alarm of alarms({})) {
      expect(JSON.stringify(at(alarm, 'Properties', 'AlarmActions'))).toMatch(/AlarmNotificationsTopic/);
    }
  });
});
