import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BUNDLING_STACKS } from 'aws-cdk-lib/cx-api';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../lib/repo-root.ts';
import { isRecord } from './synth.ts';
import { at } from './template-helpers.ts';

// bin/counter.ts, the CDK app `cdk synth` runs.

describe('the CDK app (bin/counter.ts)', () => {
  it('is environment-agnostic whatever region the machine has, and takes alarmEmail from the context', () => {
    const outdir = mkdtempSync(path.join(tmpdir(), 'cdk-app-'));
    try {
      const cdkJson: unknown = JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8'));
      const context = isRecord(cdkJson) && isRecord(cdkJson.context) ? cdkJson.context : {};
      // As `cdk synth` runs it on a machine with no AWS configuration: the CLI then fills in us-east-1.
      execFileSync(process.execPath, ['--import', 'tsx', 'bin/counter.ts'], {
        cwd: REPO_ROOT,
        env: {
          PATH: process.env.PATH,
          CDK_OUTDIR: outdir,
          CDK_DEFAULT_REGION: 'us-east-1',
          CDK_DEFAULT_ACCOUNT: '123456789012',
          CDK_CONTEXT_JSON: JSON.stringify({
            ...context,
            [BUNDLING_STACKS]: [],
            alarmEmail: 'ops@example.com',
          }),
        },
        stdio: 'pipe',
      });
      const manifest: unknown = JSON.parse(readFileSync(path.join(outdir, 'manifest.json'), 'utf8'));
      expect(at(manifest, 'artifacts', 'CounterService', 'environment')).toBe(
        'aws://unknown-account/unknown-region',
      );
      const template = readFileSync(path.join(outdir, 'CounterService.template.json'), 'utf8');
      expect(template).not.toContain('us-east-1');
      expect(template).not.toContain('123456789012');
      expect(template).toContain('"Endpoint": "ops@example.com"');
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
