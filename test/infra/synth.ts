import { readFileSync } from 'node:fs';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { BUNDLING_STACKS } from 'aws-cdk-lib/cx-api';
import { CounterStack, type CounterStackProps } from '../../lib/counter-stack.ts';
import { REPO_ROOT } from '../../lib/repo-root.ts';

/** A fixed environment, so ARNs in assertions are concrete rather than pseudo-parameters. */
export const TEST_ENV = { account: '111111111111', region: 'eu-west-1' } as const;

/**
 * An App with the same feature flags `cdk synth` reads from cdk.json, so the tests check what would
 * be deployed. Without bundling the functions get placeholder code: enough for tests that only read
 * the template, and seconds faster.
 */
export function testApp(options: { bundling: boolean }): App {
  const cdkJson: unknown = JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8'));
  const context = isRecord(cdkJson) && isRecord(cdkJson.context) ? cdkJson.context : {};
  return new App({ context: { ...context, ...(options.bundling ? {} : { [BUNDLING_STACKS]: [] }) } });
}

/** A CounterStack built by `synthStack`, with its App; `template` synthesizes on first read. */
export interface SynthesizedStack {
  app: App;
  stack: CounterStack;
  readonly template: Template;
}

/**
 * A CounterStack with `props` in TEST_ENV, without bundling (template-only tests), as `id`
 * ('CounterService' unless said) in `app` (a fresh one unless given). The template is made when first
 * read, so constructs added to the stack before then are in it.
 */
export function synthStack(
  props: CounterStackProps = {},
  options: { id?: string; app?: App } = {},
): SynthesizedStack {
  const app = options.app ?? testApp({ bundling: false });
  const stack = new CounterStack(app, options.id ?? 'CounterService', { env: TEST_ENV, ...props });
  let template: Template | undefined;
  return {
    app,
    stack,
    get template() {
      template ??= Template.fromStack(stack);
      return template;
    },
  };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
