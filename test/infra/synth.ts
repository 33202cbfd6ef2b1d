import { readFileSync } from 'node:fs';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { BUNDLING_STACKS } from 'aws-cdk-lib/cx-api';
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

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
