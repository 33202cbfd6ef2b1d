import { type PolicyValidationPluginReport, Stack } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Tracing } from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks, type NagPack, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { CounterFunction } from '../../lib/constructs/node-function.ts';
import { FUNCTIONS } from '../../lib/routes.ts';
import { synthStack, TEST_ENV, testApp } from './synth.ts';

/** One line per finding, so a failure shows the rule, the resource and why. */
function findings(report: PolicyValidationPluginReport): string[] {
  return report.violations.flatMap((violation) =>
    violation.violatingResources.map(
      (resource) =>
        `${violation.severity} ${violation.ruleName} at ${resource.constructPath}: ${violation.description}`,
    ),
  );
}

function packs(scope: IConstruct): NagPack[] {
  return [new AwsSolutionsChecks(scope, { verbose: true }), new ServerlessChecks(scope, { verbose: true })];
}

// As bin/counter.ts does (environment-agnostic, with or without an alarm e-mail), and with a concrete
// environment.
describe.each([
  { name: 'with an environment', env: TEST_ENV, alarmEmail: undefined },
  { name: 'environment-agnostic', env: undefined, alarmEmail: undefined },
  { name: 'with an alarm e-mail subscription', env: undefined, alarmEmail: 'ops@example.com' },
])('cdk-nag on the counter stack, $name', ({ env, alarmEmail }) => {
  // `env: undefined` replaces TEST_ENV: an environment-agnostic stack.
  const { app } = synthStack({ env, ...(alarmEmail === undefined ? {} : { alarmEmail }) });
  app.synth();

  it.each(packs(app).map((pack) => ({ pack, name: pack.name })))(
    'reports no unacknowledged findings from the $name pack',
    ({ pack }) => {
      const report = pack.validateScope(app);
      expect(findings(report)).toEqual([]);
      expect(report.success).toBe(true);
    },
  );
});

// The default has tracing off (its rule acknowledged with the reason); turned on, X-Ray's wildcard
// resource is acknowledged (and, in pass-through mode, the tracing rule still is).
describe.each([Tracing.ACTIVE, Tracing.PASS_THROUGH])(
  'cdk-nag on the counter stack with X-Ray tracing %s',
  (tracing) => {
    const { app } = synthStack({ tracing });
    app.synth();

    it.each(packs(app).map((pack) => ({ pack, name: pack.name })))(
      'reports no unacknowledged findings from the $name pack: X-Ray’s wildcard resource is acknowledged with its reason',
      ({ pack }) => {
        const report = pack.validateScope(app);
        expect(findings(report)).toEqual([]);
        expect(report.success).toBe(true);
      },
    );
  },
);

// Change events on (the default bus): the consumer's events:PutEvents names that bus, no wildcard.
describe('cdk-nag on the counter stack with change events', () => {
  const { app } = synthStack({ changeEvents: true });
  app.synth();

  it.each(packs(app).map((pack) => ({ pack, name: pack.name })))(
    'reports no unacknowledged findings from the $name pack',
    ({ pack }) => {
      const report = pack.validateScope(app);
      expect(findings(report)).toEqual([]);
      expect(report.success).toBe(true);
    },
  );
});

describe('the acknowledgments', () => {
  it('stay narrow: a wildcard action or an unjustified DLQ gap on a house function is still reported', () => {
    const app = testApp({ bundling: false });
    const stack = new Stack(app, 'Probe', { env: TEST_ENV });
    const fn = new CounterFunction(stack, 'Probe', { entry: FUNCTIONS.getCounter.entry });
    fn.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:*'], resources: ['*'] }));
    app.synth();

    const ruleNames = packs(app).flatMap((pack) => pack.validateScope(app).violations.map((v) => v.ruleName));
    // A wildcard action is never acknowledged.
    expect(ruleNames).toContain('AwsSolutions-IAM5[Action::dynamodb:*]');
    // Untraced (the default), the role has no X-Ray statement, so no wildcard resource is acknowledged.
    expect(ruleNames).toContain('AwsSolutions-IAM5[Resource::*]');
    // The DLQ acknowledgment belongs to the API and the consumer, which know how they invoke.
    expect(ruleNames).toContain('Serverless-LambdaDLQ');
    // The runtime pin is the house default's own decision.
    expect(ruleNames).not.toContain('AwsSolutions-L1');
  });
});
