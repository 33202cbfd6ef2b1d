import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuiltBundle, buildBundle, esbuildOptionsFrom, packageOf } from '../../bench/bundling.ts';
import { INCREMENT_REFERENCE } from '../../bench/subjects.ts';
import { COUNTER_BUNDLING } from '../../lib/constructs/node-function.ts';

describe("the benchmarks' reference handler", () => {
  let dir: string;
  let bundle: BuiltBundle;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bench-reference-'));
    bundle = await buildBundle(INCREMENT_REFERENCE.id, INCREMENT_REFERENCE.entry, dir);
  }, 60_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('bundles with the stack settings into a minified ESM file with a linked source map', async () => {
    // Act
    const code = await readFile(bundle.file, 'utf8');

    // Assess
    expect(path.basename(bundle.file)).toBe('index.mjs');
    expect(code.startsWith("import { createRequire as __counterCreateRequire } from 'node:module';")).toBe(
      true,
    );
    expect(code).toMatch(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/);
    expect(bundle.mapBytes).toBeGreaterThan(0);
  });

  it('holds the DynamoDB client and none of the handler libraries it is measured against', () => {
    // Act
    const packages = bundle.byPackage.map((entry) => entry.name);

    // Assess
    expect(packages).toContain('@aws-sdk/client-dynamodb');
    expect(packages).toContain('@aws-sdk/lib-dynamodb');
    for (const library of ['zod', '@middy/core', '@aws-lambda-powertools/logger']) {
      expect(packages).not.toContain(library);
    }
  });
});

describe('esbuildOptionsFrom', () => {
  it('translates the stack bundling settings', () => {
    // Act
    const options = esbuildOptionsFrom(COUNTER_BUNDLING);

    // Assess
    expect(options).toMatchObject({
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      minify: true,
      sourcemap: true,
      mainFields: ['module', 'main'],
      external: [],
    });
  });

  it('refuses a setting it does not translate rather than building something else', () => {
    // Prepare
    const bundling = { ...COUNTER_BUNDLING, format: OutputFormat.ESM, keepNames: true };

    // Act
    const translate = () => esbuildOptionsFrom(bundling);

    // Assess
    expect(translate).toThrow(/keepNames/);
  });
});

describe('packageOf', () => {
  it('names the package an esbuild input comes from, the innermost node_modules winning', () => {
    // Act
    const names = [
      packageOf('node_modules/zod/v4/classic/schemas.js'),
      packageOf('node_modules/@aws-sdk/core/dist-es/index.js'),
      packageOf('node_modules/a/node_modules/@smithy/core/x.js'),
      packageOf('functions/http/increment-counter.ts'),
    ];

    // Assess
    expect(names).toEqual(['zod', '@aws-sdk/core', '@smithy/core', 'project']);
  });
});
