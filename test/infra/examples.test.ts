import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { type IRole, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { BUNDLING_STACKS } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks, type NagPack, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCallersExample, type CallersExample } from '../../examples/callers/callers-example.ts';
import { JOB_COUNTER_PREFIX, WORKFLOW_COUNTER } from '../../examples/callers/names.ts';
import type { CounterFunction } from '../../lib/constructs/node-function.ts';
import { testApp } from './synth.ts';
import { asArray, at, logicalIdOf, renderArn, type Statement, statementsOfRole } from './template-helpers.ts';

// The example app of docs/callers.md (examples/callers), synthesized once for the file as app.ts builds
// it. Only the callers' stack is bundled: its worker's bundle is checked below, the counter service's
// bundles by counter-stack.test.ts.
let app: App;
let example: CallersExample;
let template: Template;
/** The callers' stack imports the API id; `<import:...>` as renderArn shows it. */
let apiId: string;

beforeAll(() => {
  app = testApp({ bundling: true });
  app.node.setContext(BUNDLING_STACKS, ['CounterCallers']);
  example = buildCallersExample(app);
  app.synth();
  template = Template.fromStack(example.callers);

  const imports = new Set(
    JSON.stringify(template.toJSON())
      .match(/"Fn::ImportValue":"[^"]+"/g)
      ?.map((found) => found.slice('"Fn::ImportValue":"'.length, -1)),
  );
  expect(imports.size).toBe(1);
  const [exportName] = imports;
  const outputs: Record<string, unknown> = Template.fromStack(example.counters).findOutputs('*', {
    Export: { Name: exportName },
  });
  expect(Object.values(outputs).map((output) => at(output, 'Value'))).toEqual([
    { Ref: logicalIdOf(example.counters.api.httpApi) },
  ]);
  apiId = `<import:${exportName}>`;
});

function packs(scope: IConstruct): NagPack[] {
  return [new AwsSolutionsChecks(scope, { verbose: true }), new ServerlessChecks(scope, { verbose: true })];
}

/** One line per finding, so a failure shows the rule and the resource. */
function findings(scope: IConstruct): string[] {
  return packs(scope).flatMap((pack) =>
    pack
      .validateScope(scope)
      .violations.flatMap((violation) =>
        violation.violatingResources.map((resource) => `${violation.ruleName} at ${resource.constructPath}`),
      ),
  );
}

/** `execute-api:Invoke` on this `stage/METHOD/path` of the counter API (environment-agnostic ARN). */
const invokeArn = (stageMethodPath: string) =>
  `arn:aws:execute-api:<ref:AWS::Region>:<ref:AWS::AccountId>:${apiId}/${stageMethodPath}`;

function roleOf(fn: CounterFunction): IRole {
  if (fn.role === undefined) throw new Error(`${fn.node.path} has no role`);
  return fn.role;
}

function rendered(statement: Statement) {
  return {
    effect: statement.effect,
    actions: statement.actions,
    resources: statement.resources.map(renderArn),
  };
}

describe('the example app of AWS services as callers', () => {
  it('passes the AWS Solutions and Serverless checks, every finding acknowledged with a reason', () => {
    expect(findings(app)).toEqual([]);
  });

  it("gives the job worker's role execute-api:Invoke on POST/counters/jobs.* only, and nothing else but its logs", () => {
    const statements = statementsOfRole(template, logicalIdOf(roleOf(example.callers.jobWorker)));
    const onTheApi = statements.filter((statement) =>
      statement.actions.some((action) => action.startsWith('execute-api:')),
    );
    expect(onTheApi.map(rendered)).toEqual([
      {
        effect: 'Allow',
        actions: ['execute-api:Invoke'],
        resources: [invokeArn(`*/POST/counters/${JOB_COUNTER_PREFIX}*`)],
      },
    ]);
    const others = statements.filter((statement) => !onTheApi.includes(statement));
    expect(others).toEqual([
      {
        effect: 'Allow',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [{ 'Fn::GetAtt': [logicalIdOf(example.callers.jobWorker.functionLogGroup), 'Arn'] }],
      },
    ]);
  });

  it("gives the workflow's role execute-api:Invoke on its one route and nothing else (not CDK's undefined-stage ARN)", () => {
    const statements = statementsOfRole(template, logicalIdOf(example.callers.workflow.role));
    expect(statements.map(rendered)).toEqual([
      {
        effect: 'Allow',
        actions: ['execute-api:Invoke'],
        resources: [invokeArn(`*/POST/counters/${WORKFLOW_COUNTER}`)],
      },
    ]);
  });

  it('calls the API from the workflow signed with its role, on the $default stage, once per execution', () => {
    const definition: unknown = JSON.parse(
      renderArn(
        at(
          template.toJSON(),
          'Resources',
          logicalIdOf(example.callers.workflow),
          'Properties',
          'DefinitionString',
        ),
      ),
    );
    const state = at(definition, 'States', String(at(definition, 'StartAt')));
    expect(at(state, 'Resource')).toBe('arn:aws:states:::apigateway:invoke');
    expect(at(state, 'Parameters')).toEqual({
      ApiEndpoint: `${apiId}.execute-api.<ref:AWS::Region>.<ref:AWS::URLSuffix>`,
      Method: 'POST',
      Path: `/counters/${WORKFLOW_COUNTER}`,
      AuthType: 'IAM_ROLE',
      // No Stage: the task then calls the $default stage, the API's only one.
      Headers: { 'Idempotency-Key.$': "States.Array(States.Hash($$.Execution.Id, 'SHA-256'))" },
    });
    expect(asArray(at(state, 'Retry')).flatMap((retry) => asArray(at(retry, 'ErrorEquals')))).toEqual([
      'ApiGateway.429',
      'ApiGateway.500',
      'ApiGateway.502',
      'ApiGateway.503',
      'ApiGateway.504',
    ]);
    expect(at(state, 'End')).toBe(true);
  });

  it("bundles the job worker, which loads on Node.js 22 with the API's URL", () => {
    const worker = at(template.toJSON(), 'Resources', logicalIdOf(example.callers.jobWorker), 'Properties');
    expect(renderArn(at(worker, 'Environment', 'Variables', 'COUNTER_API_URL'))).toBe(
      `https://${apiId}.execute-api.<ref:AWS::Region>.<ref:AWS::URLSuffix>/`,
    );
    const key = String(at(worker, 'Code', 'S3Key'));
    const bundle = path.join(app.outdir, `asset.${key.replace(/\.zip$/, '')}`, 'index.mjs');
    expect(existsSync(bundle)).toBe(true);
    // Loading runs the cold start (the client, the URL read) without calling anything.
    const url = JSON.stringify(pathToFileURL(bundle).href);
    const loaded = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `try { const m = await import(${url}); process.stdout.write(typeof m.handler); } ` +
          'catch (e) { process.stdout.write(String(e)); }',
      ],
      {
        env: {
          PATH: process.env.PATH,
          COUNTER_API_URL: 'https://abc123.execute-api.eu-west-1.amazonaws.com/',
        },
        encoding: 'utf8',
      },
    );
    expect(loaded).toBe('function');
  });
});

describe("the example's acknowledgments", () => {
  it("stay narrow: a wider grant or another wildcard on a caller's role is still reported", () => {
    const probeApp = testApp({ bundling: false });
    const probe = buildCallersExample(probeApp);
    // The workflow granted every route, and any action on them; the worker a wildcard of another service.
    probe.counters.api.grantWrite(probe.callers.workflow);
    probe.callers.workflow.addToRolePolicy(
      new PolicyStatement({
        actions: ['execute-api:*'],
        resources: [
          probe.counters.api.httpApi.arnForExecuteApi('POST', `/counters/${WORKFLOW_COUNTER}`, '*'),
        ],
      }),
    );
    probe.callers.jobWorker.addToRolePolicy(
      new PolicyStatement({ actions: ['s3:GetObject'], resources: ['*'] }),
    );
    probeApp.synth();

    const iam5 = findings(probeApp).filter((finding) => finding.startsWith('AwsSolutions-IAM5'));
    const workflowPolicy = 'CounterCallers/NightlyReport/Role/DefaultPolicy/Resource';
    expect(iam5).toEqual(
      expect.arrayContaining([
        `AwsSolutions-IAM5[Action::execute-api:*] at ${workflowPolicy}`,
        `AwsSolutions-IAM5[Resource::*] at CounterCallers/JobWorkerRole/DefaultPolicy/Resource`,
      ]),
    );
    // grantWrite's routes are reported; the workflow's own route, acknowledged, is not.
    const routes = iam5
      .map((finding) => /\/\*\/(\w+\/[^\]]+)\] at (.*)$/.exec(finding))
      .flatMap((match) => (match === null ? [] : [`${match[1]} at ${match[2]}`]));
    expect(routes.toSorted()).toEqual(
      ['DELETE/counters/*', 'POST/counter', 'POST/counters/*', 'PUT/counter', 'PUT/counters/*']
        .map((route) => `${route} at ${workflowPolicy}`)
        .toSorted(),
    );
  });
});
