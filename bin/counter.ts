import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { CounterStack } from '../lib/counter-stack.ts';

const app = new App();

// Environment-agnostic unless the CLI knows the account and region (it sets these from the profile).
new CounterStack(app, 'CounterService', {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});

// cdk-nag 3 runs as a policy-validation plugin: any finding not acknowledged next to its cause (with
// a reason) fails `cdk synth`.
Validations.of(app).addPlugins(
  new AwsSolutionsChecks(app, { verbose: true }),
  new ServerlessChecks(app, { verbose: true }),
);
