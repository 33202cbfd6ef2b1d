import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { type BundlingOptions, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { COUNTER_BUNDLING } from '../lib/constructs/node-function.ts';
import { REPO_ROOT } from '../lib/repo-root.ts';

/**
 * The stack's bundling settings (lib/constructs/node-function.ts COUNTER_BUNDLING) as esbuild build
 * options, the way aws-cdk-lib's NodejsFunction turns them into esbuild's command line: `--bundle`,
 * `--platform=node`, the target, format, minify, `--sourcemap`, banner, main fields, externals.
 *
 * A setting this function does not know throws rather than being ignored, so the benchmarks can
 * never quietly build something other than what deploys.
 */
export function esbuildOptionsFrom(bundling: BundlingOptions): BuildOptions {
  const understood = new Set([
    'format',
    'target',
    'minify',
    'sourceMap',
    'mainFields',
    'banner',
    // Where esbuild runs (Docker or not) does not change its output.
    'forceDockerBundling',
    'externalModules',
  ]);
  const unknown = Object.keys(bundling).filter((key) => !understood.has(key));
  if (unknown.length > 0) {
    throw new Error(`bench/bundling.ts does not translate the bundling setting(s): ${unknown.join(', ')}`);
  }
  if (bundling.format !== OutputFormat.ESM)
    throw new Error(`expected ESM bundles, got ${String(bundling.format)}`);
  return {
    bundle: true,
    platform: 'node',
    format: 'esm',
    // NodejsFunction derives the target from the runtime when none is given; ours always gives one.
    ...(bundling.target === undefined ? {} : { target: bundling.target }),
    minify: bundling.minify === true,
    // `sourceMap: true` without a mode is esbuild's plain `--sourcemap`: a linked .map file.
    sourcemap: bundling.sourceMap === true,
    ...(bundling.mainFields === undefined ? {} : { mainFields: [...bundling.mainFields] }),
    ...(bundling.banner === undefined ? {} : { banner: { js: bundling.banner } }),
    external: [...(bundling.externalModules ?? [])],
    absWorkingDir: REPO_ROOT,
    logLevel: 'silent',
  };
}

export interface BuiltBundle {
  /** The route table's id, or the reference's name. */
  id: string;
  entry: string;
  /** The built index.mjs (what Lambda loads). */
  file: string;
  /** Minified JavaScript, in bytes: what the size ratio compares. */
  bytes: number;
  /** The linked source map, loaded too at init because NODE_OPTIONS has --enable-source-maps. */
  mapBytes: number;
  /** Bytes in the output per package (or `project` for our own files), largest first. */
  byPackage: { name: string; bytes: number }[];
}

/** Bundles `entry` (relative to the repository root) into `<outRoot>/<id>/index.mjs`, as the stack does. */
export async function buildBundle(id: string, entry: string, outRoot: string): Promise<BuiltBundle> {
  const dir = path.join(outRoot, id);
  await mkdir(dir, { recursive: true });
  // index.mjs, as NodejsFunction names an ESM bundle, so Node loads it as a module.
  const file = path.join(dir, 'index.mjs');
  const result = await build({
    ...esbuildOptionsFrom(COUNTER_BUNDLING),
    entryPoints: [path.join(REPO_ROOT, entry)],
    outfile: file,
    metafile: true,
  });
  const [bytes, mapBytes] = await Promise.all([
    stat(file).then((s) => s.size),
    stat(`${file}.map`).then(
      (s) => s.size,
      () => 0,
    ),
  ]);
  return { id, entry, file, bytes, mapBytes, byPackage: bytesByPackage(result.metafile) };
}

/**
 * Which packages the output's bytes come from, from esbuild's metafile: the way to see what
 * dominates a bundle.
 */
export function bytesByPackage(metafile: Metafile): { name: string; bytes: number }[] {
  const totals = new Map<string, number>();
  for (const [outPath, output] of Object.entries(metafile.outputs)) {
    if (outPath.endsWith('.map')) continue;
    for (const [inputPath, input] of Object.entries(output.inputs)) {
      const name = packageOf(inputPath);
      totals.set(name, (totals.get(name) ?? 0) + input.bytesInOutput);
    }
  }
  return [...totals]
    .map(([name, bytes]) => ({ name, bytes }))
    .filter((entry) => entry.bytes > 0)
    .sort((a, b) => b.bytes - a.bytes);
}

/** `node_modules/@scope/name/...` -> `@scope/name`; the innermost node_modules wins. */
export function packageOf(inputPath: string): string {
  const marker = 'node_modules/';
  const at = inputPath.lastIndexOf(marker);
  if (at === -1) return 'project';
  const parts = inputPath.slice(at + marker.length).split('/');
  const first = parts[0] ?? '';
  return first.startsWith('@') ? `${first}/${parts[1] ?? ''}` : first;
}
