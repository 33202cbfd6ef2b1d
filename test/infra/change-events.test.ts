import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { describe, expect, it } from 'vitest';
import type { CounterStackProps } from '../../lib/counter-stack.ts';
import { synthStack, TEST_ENV, testApp } from './synth.ts';
import { at, logicalIdOf, renderArn, resourcesOfType, statementsOfRole } from './template-helpers.ts';

const DEFAULT_BUS = 'arn:aws:events:eu-west-1:111111111111:event-bus/default';

/** A stack built with `changeEvents` (none: the default), without bundling (no function code is read). */
function synth(changeEvents?: (app: ReturnType<typeof testApp>) => CounterStackProps['changeEvents']) {
  const app = testApp({ bundling: false });
  const { stack, template } = synthStack(
    changeEvents === undefined ? {} : { changeEvents: changeEvents(app) },
    { app },
  );
  const consumer = stack.historyConsumer.function;
  const roleId = logicalIdOf(consumer.role ?? consumer);
  return {
    template,
    consumerStatements: statementsOfRole(template, roleId),
    consumerEnvironment: at(
      template.toJSON(),
      'Resources',
      logicalIdOf(consumer),
      'Properties',
      'Environment',
      'Variables',
    ),
    /** Every statement of every policy in the stack that allows events:PutEvents, with its resources. */
    putEvents: resourcesOfType(template, 'AWS::IAM::Policy')
      .flatMap(([, policy]) => [at(policy, 'Properties', 'PolicyDocument', 'Statement')].flat())
      .filter((statement) => [at(statement, 'Action')].flat().includes('events:PutEvents'))
      .map((statement) => ({
        actions: [at(statement, 'Action')].flat(),
        resources: [at(statement, 'Resource')].flat().map(renderArn),
      })),
  };
}

describe('change events in the stack', () => {
  it('are off by default: no events:PutEvents anywhere, no bus variable, no bus output', () => {
    const { template, putEvents, consumerEnvironment } = synth();

    expect(putEvents).toEqual([]);
    expect(consumerEnvironment).not.toHaveProperty('CHANGE_EVENTS_BUS');
    expect(Object.keys(template.findOutputs('ChangeEventsBusArn'))).toEqual([]);
  });

  it('with changeEvents: true, let the consumer alone put events on the account’s default bus, which its variable names', () => {
    const { template, putEvents, consumerStatements, consumerEnvironment } = synth(() => true);

    expect(putEvents).toEqual([{ actions: ['events:PutEvents'], resources: [DEFAULT_BUS] }]);
    expect(
      consumerStatements.filter((statement) => statement.actions.includes('events:PutEvents')),
    ).toHaveLength(1);
    expect(renderArn(at(consumerEnvironment, 'CHANGE_EVENTS_BUS'))).toBe(DEFAULT_BUS);
    const output = Object.values(template.findOutputs('ChangeEventsBusArn'))[0];
    expect(renderArn(at(output, 'Value'))).toBe(DEFAULT_BUS);
  });

  it('with a bus of another stack, let the consumer put events on exactly that bus', () => {
    let buses: Stack | undefined;
    let bus: EventBus | undefined;
    const { putEvents, consumerEnvironment } = synth((app) => {
      buses = new Stack(app, 'Buses', { env: TEST_ENV });
      bus = new EventBus(buses, 'Counters', { eventBusName: 'counters' });
      return bus;
    });

    if (buses === undefined || bus === undefined) throw new Error('the bus was not built');
    // The bus's ARN crosses from its stack as an export of exactly its ARN.
    const imported = renderArn(at(consumerEnvironment, 'CHANGE_EVENTS_BUS'));
    expect(putEvents).toEqual([{ actions: ['events:PutEvents'], resources: [imported] }]);
    const exportName = /^<import:(.+)>$/.exec(imported)?.[1];
    const exported = Object.values(Template.fromStack(buses).toJSON().Outputs ?? {}).find(
      (output) => at(output, 'Export', 'Name') === exportName,
    );
    expect(at(exported, 'Value')).toEqual({ 'Fn::GetAtt': [logicalIdOf(bus), 'Arn'] });
  });
});
