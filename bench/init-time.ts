import { execFile } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Tracing } from 'aws-cdk-lib/aws-lambda';
import { TRACING_VARIABLE } from '../functions/platform/tracing-switch.ts';
import { REPO_ROOT } from '../lib/repo-root.ts';
import { HISTORY_CONSUMER } from '../lib/routes.ts';
import type { BuiltBundle } from './bundling.ts';
import {
  formatMs,
  formatRatio,
  interleavedOrder,
  markdownTable,
  pairedRatio,
  ratio,
  type Summary,
  summarize,
  type Target,
  verdict,
} from './stats.ts';
import { INCREMENT_REFERENCE, type Subject } from './subjects.ts';

export const INIT_TARGET: Target = { max: 1.5, label: 'module init within 1.5x of the reference' };

/** The project's Node.js 22, the version Lambda runs (the system node may be older). */
export const LAMBDA_NODE = path.join(REPO_ROOT, 'node_modules', '.bin', 'node');

/**
 * Runs in a fresh process: the clock starts right before the bundle's import and stops when its
 * top-level code (client construction, environment reads) has run, which is the module-init part of
 * a Lambda cold start. The runtime's own bootstrap is not included: it is the same for every function.
 */
const RUNNER = `
const start = performance.now();
const loaded = await import(process.argv[1]);
const importMs = performance.now() - start;
if (typeof loaded.handler !== 'function') throw new Error('the bundle exports no handler');
process.stdout.write(JSON.stringify({ importMs, rssBytes: process.memoryUsage().rss }) + '\\n');
`;

/** One way of loading one bundle. */
export interface InitVariant {
  id: string;
  kind: Subject['kind'];
  file: string;
  environment: Record<string, string>;
  /** The variant this one's median is divided by. */
  referenceId: string;
  /** Shown for understanding, not held against the target. */
  informative?: boolean;
}

export interface InitRow {
  id: string;
  kind: Subject['kind'];
  informative: boolean;
  importMs: Summary;
  referenceId: string;
  /** Median import time / the reference variant's median: the figure held against the target. */
  ratio: number;
  /** The median of per-round ratios (each round loads every variant once, moments apart). */
  pairedRatio: number;
  /** Fastest load / the reference's fastest: the cost with the least interference. */
  minRatio: number;
  /** Resident memory right after the import, median. */
  rssMedianBytes: number;
}

export interface InitResult {
  reference: string;
  runsPerBundle: number;
  target: Target;
  rows: InitRow[];
}

/**
 * The variants to load: every bundle with the function's environment (NODE_OPTIONS with
 * --enable-source-maps, as deployed); to show what the source maps cost, the increment handler
 * and its reference without it; and to show what tracing costs, two handlers with it on.
 */
export function initVariants(
  subjects: readonly Subject[],
  bundles: ReadonlyMap<string, BuiltBundle>,
  environment: Record<string, string>,
): InitVariant[] {
  const { NODE_OPTIONS: _options, ...withoutSourceMaps } = environment;
  const variants: InitVariant[] = [];
  for (const subject of subjects) {
    const bundle = bundles.get(subject.id);
    if (bundle === undefined) continue;
    variants.push({
      id: subject.id,
      kind: subject.kind,
      file: bundle.file,
      environment,
      referenceId: INCREMENT_REFERENCE.id,
    });
  }
  for (const id of ['increment-counter', INCREMENT_REFERENCE.id]) {
    const bundle = bundles.get(id);
    if (bundle === undefined) continue;
    variants.push({
      id: `${id}${NO_SOURCE_MAPS}`,
      kind: id === INCREMENT_REFERENCE.id ? 'reference' : 'function',
      file: bundle.file,
      environment: withoutSourceMaps,
      referenceId: `${INCREMENT_REFERENCE.id}${NO_SOURCE_MAPS}`,
      informative: true,
    });
  }
  // The stack prop `tracing` on: the same bundle with the variables a traced function gets, so its
  // DynamoDB clients are instrumented at init. Its ratio is to the same bundle untraced: what turning
  // tracing on costs at cold start.
  for (const id of ['increment-counter', HISTORY_CONSUMER.id]) {
    const bundle = bundles.get(id);
    if (bundle === undefined) continue;
    variants.push({
      id: `${id}${TRACING_ON}`,
      kind: 'function',
      file: bundle.file,
      environment: {
        ...environment,
        [TRACING_VARIABLE]: Tracing.ACTIVE,
        AWS_XRAY_DAEMON_ADDRESS: '169.254.79.129:2000',
      },
      referenceId: id,
      informative: true,
    });
  }
  return variants;
}

export const NO_SOURCE_MAPS = ' (no --enable-source-maps)';
export const TRACING_ON = ' (tracing on)';

/**
 * Loads each variant `runs` times, each in a new Node.js 22 process, in rotating order so the
 * machine's load drifts over all of them alike.
 */
export async function measureInit(variants: readonly InitVariant[], runs: number): Promise<InitResult> {
  const samples = new Map<string, { importMs: number; rssBytes: number }[]>();
  // One unmeasured load each first: the first read of a file comes from disk, later ones from the
  // page cache, as on a Lambda host that has the code in place.
  for (const variant of variants) await loadOnce(variant.file, variant.environment);
  for (const variant of interleavedOrder(variants, runs)) {
    const sample = await loadOnce(variant.file, variant.environment);
    samples.set(variant.id, [...(samples.get(variant.id) ?? []), sample]);
  }
  const summaries = new Map(
    [...samples].map(([id, list]) => [id, summarize(list.map((sample) => sample.importMs))]),
  );
  return {
    reference: INCREMENT_REFERENCE.id,
    runsPerBundle: runs,
    target: INIT_TARGET,
    rows: variants.flatMap((variant): InitRow[] => {
      const importMs = summaries.get(variant.id);
      if (importMs === undefined) return [];
      const list = samples.get(variant.id) ?? [];
      return [
        {
          id: variant.id,
          kind: variant.kind,
          informative: variant.informative === true,
          importMs,
          referenceId: variant.referenceId,
          ratio: ratio(importMs.median, summaries.get(variant.referenceId)?.median ?? Number.NaN),
          pairedRatio: pairedRatio(
            list.map((sample) => sample.importMs),
            (samples.get(variant.referenceId) ?? []).map((sample) => sample.importMs),
          ),
          minRatio: ratio(importMs.min, summaries.get(variant.referenceId)?.min ?? Number.NaN),
          rssMedianBytes: summarize(list.map((sample) => sample.rssBytes)).median,
        },
      ];
    }),
  };
}

function loadOnce(
  file: string,
  environment: Record<string, string>,
): Promise<{ importMs: number; rssBytes: number }> {
  return new Promise((resolve, reject) => {
    execFile(
      LAMBDA_NODE,
      ['--input-type=module', '--eval', RUNNER, pathToFileURL(file).href],
      // Only the function's own environment (and PATH), not this process's: nothing of tsx or npm.
      { env: { PATH: process.env.PATH ?? '', ...environment }, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error !== null) {
          reject(new Error(`loading ${file} failed: ${error.message} ${stderr}`));
          return;
        }
        try {
          const parsed: unknown = JSON.parse(stdout.trim().split('\n').at(-1) ?? '');
          if (
            typeof parsed === 'object' &&
            parsed !== null &&
            'importMs' in parsed &&
            typeof parsed.importMs === 'number' &&
            'rssBytes' in parsed &&
            typeof parsed.rssBytes === 'number'
          ) {
            resolve({ importMs: parsed.importMs, rssBytes: parsed.rssBytes });
          } else reject(new Error(`unexpected runner output: ${stdout}`));
        } catch (parseError) {
          reject(new Error(`unexpected runner output: ${stdout} (${String(parseError)})`));
        }
      },
    );
  });
}

export function initMarkdown(result: InitResult): string {
  return markdownTable(
    [
      'bundle',
      'import median',
      'p90',
      'min',
      'median / reference median',
      'target <= 1.5x',
      'paired ratio',
      'min ratio',
      'RSS after',
    ],
    result.rows.map((row) => [
      row.id,
      formatMs(row.importMs.median),
      formatMs(row.importMs.p90),
      formatMs(row.importMs.min),
      row.id === row.referenceId ? 'reference' : `${formatRatio(row.ratio)} of ${row.referenceId}`,
      row.kind === 'reference' || row.informative ? '' : verdict(row.ratio, result.target),
      row.id === row.referenceId ? '' : formatRatio(row.pairedRatio),
      row.id === row.referenceId ? '' : formatRatio(row.minRatio),
      `${(row.rssMedianBytes / 1024 / 1024).toFixed(1)} MiB`,
    ]),
  );
}
