import { ArnFormat, Stack, Token, Validations } from 'aws-cdk-lib';
import { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { type ITopic, Subscription, SubscriptionProtocol, Topic } from 'aws-cdk-lib/aws-sns';
import { Construct, type IConstruct } from 'constructs';

export interface AlarmNotificationsProps {
  /**
   * The alarms whose ALARM and OK notifications go to the topic: every alarm in this scope when the
   * construct is created (so create it after them).
   */
  readonly alarmsIn: IConstruct;

  /**
   * A topic of your own (shared with other stacks, say) instead of one created here.
   * @default - a topic created here
   */
  readonly topic?: ITopic;

  /**
   * An address subscribed to the topic by e-mail. AWS sends it a confirmation first: nothing arrives
   * until someone follows the link in it.
   * @default - no subscription: subscribe yourself (the stack's AlarmTopicArn output)
   */
  readonly email?: string;
}

/** A deliberately loose check: enough to catch a value that is not an address at all before deploying. */
const EMAIL_PATTERN = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

export class InvalidAlarmEmailError extends Error {
  constructor(email: string) {
    super(`alarmEmail ${JSON.stringify(email)} is not an e-mail address (name@example.com).`);
    this.name = 'InvalidAlarmEmailError';
  }
}

/**
 * Where every alarm tells someone: an SNS topic (the stack's own unless one is given) that receives
 * each alarm's ALARM and OK, optionally with an e-mail subscription. Created by default so that an
 * out-of-the-box deploy has somewhere to say that history stopped.
 */
export class AlarmNotifications extends Construct {
  public readonly topic: ITopic;

  constructor(scope: Construct, id: string, props: AlarmNotificationsProps) {
    super(scope, id);
    this.topic = props.topic ?? this.ownTopic();

    if (props.email !== undefined) {
      if (!Token.isUnresolved(props.email) && !EMAIL_PATTERN.test(props.email)) {
        throw new InvalidAlarmEmailError(props.email);
      }
      // Here rather than through topic.addSubscription, which would put it in the stack of a topic
      // passed in, out of this stack.
      const subscription = new Subscription(this, 'Email', {
        topic: this.topic,
        protocol: SubscriptionProtocol.EMAIL,
        endpoint: props.email,
      });
      Validations.of(subscription).acknowledge({
        id: 'Serverless-SNSRedrivePolicy',
        reason:
          'SNS retries e-mail deliveries itself; a dead-letter queue for the ones it gives up on could only ' +
          'be watched by an alarm that notifies through this same topic, and so would tell no one.',
      });
    }

    const action = new SnsAction(this.topic);
    for (const alarm of props.alarmsIn.node.findAll().filter((found) => found instanceof Alarm)) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
  }

  private ownTopic(): Topic {
    const topic = new Topic(this, 'Topic', {
      displayName: `${Stack.of(this).stackName} alarms`,
      // A policy that refuses any request to the topic not made over TLS.
      enforceSSL: true,
    });
    // The topic policy above replaces SNS's default one, so CloudWatch is allowed to publish by name:
    // for this account's alarms only.
    const stack = Stack.of(this);
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowThisAccountsAlarms',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    Validations.of(topic).acknowledge({
      id: 'AwsSolutions-SNS2',
      reason:
        "CloudWatch alarms cannot publish to a topic encrypted with SNS's AWS-managed key, and a " +
        "customer-managed key (with a key policy for CloudWatch) would be the stack's only one; the " +
        'messages carry alarm names, states and metric values, no counter data.',
    });
    return topic;
  }
}
