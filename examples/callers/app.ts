import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { buildCallersExample } from './callers-example.ts';

// The example app of docs/callers.md. `npm run synth:callers` synthesizes it with the cdk-nag checks;
//   npx cdk deploy --app "npx tsx examples/callers/app.ts" --all
// deploys it.
const app = new App();
buildCallersExample(app);

// As bin/counter.ts: any finding not acknowledged next to its cause (with a reason) fails the synth.
Validations.of(app).addPlugins(
  new AwsSolutionsChecks(app, { verbose: true }),
  new ServerlessChecks(app, { verbose: true }),
);
