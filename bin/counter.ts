import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { CounterStack } from '../lib/counter-stack.ts';

const app = new App();

// `-c alarmEmail=ops@example.com` (or "alarmEmail" in cdk.json's context) subscribes an address to
// the alarms.
const alarmEmail: unknown = app.node.tryGetContext('alarmEmail');
if (alarmEmail !== undefined && typeof alarmEmail !== 'string') {
  throw new Error('The context value alarmEmail must be a string (an e-mail address).');
}

// `-c changeEvents=true` publishes change events to the account's default event bus (docs/events.md);
// another bus is a `changeEvents` prop of a stack built in your own app.
const changeEventsContext: unknown = app.node.tryGetContext('changeEvents');
const changeEvents = changeEventsContext === true || changeEventsContext === 'true';
const changeEventsOff = [undefined, false, 'false'].some((off) => off === changeEventsContext);
if (!changeEvents && !changeEventsOff) {
  throw new Error('The context value changeEvents must be true or false.');
}

// Environment-agnostic: the template names no account or region, and `cdk deploy` puts the stack in
// those of the credentials it runs with (AWS_PROFILE, AWS_REGION, ...). Passing the CLI's
// CDK_DEFAULT_ACCOUNT/CDK_DEFAULT_REGION here would bake in whatever the synthesizing machine had
// (us-east-1 when it had none) and deploy there from any machine. Nothing in the stack looks the
// environment up, so it needs neither.
new CounterStack(app, 'CounterService', {
  ...(alarmEmail === undefined || alarmEmail === '' ? {} : { alarmEmail }),
  ...(changeEvents ? { changeEvents: true } : {}),
});

// cdk-nag 3 runs as a policy-validation plugin: any finding not acknowledged next to its cause (with
// a reason) fails `cdk synth`.
Validations.of(app).addPlugins(
  new AwsSolutionsChecks(app, { verbose: true }),
  new ServerlessChecks(app, { verbose: true }),
);
