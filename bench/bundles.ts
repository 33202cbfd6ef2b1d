import { type BuiltBundle, buildBundle } from './bundling.ts';
import { formatBytes, formatRatio, markdownTable, ratio, type Target, verdict } from './stats.ts';
import { INCREMENT_REFERENCE, type Subject } from './subjects.ts';

export const BUNDLE_TARGET: Target = { max: 2, label: 'bundle size within 2x of the reference' };

export interface BundleRow {
  id: string;
  kind: Subject['kind'];
  bytes: number;
  mapBytes: number;
  /** bytes / the increment reference's bytes */
  ratio: number;
  /** The largest contributors, from esbuild's metafile. */
  topPackages: { name: string; bytes: number }[];
}

export interface BundlesResult {
  reference: string;
  target: Target;
  rows: BundleRow[];
  /** Per package: bytes in increment-counter's bundle minus bytes in the reference's. */
  incrementExtraByPackage: { name: string; bytes: number }[];
}

/** Builds every subject with the stack's esbuild settings; the bundles are reused by later sections. */
export async function buildAll(
  subjects: readonly Subject[],
  outRoot: string,
): Promise<Map<string, BuiltBundle>> {
  const built = new Map<string, BuiltBundle>();
  // One at a time: esbuild is already parallel inside, and the machine has two cores.
  for (const subject of subjects)
    built.set(subject.id, await buildBundle(subject.id, subject.entry, outRoot));
  return built;
}

export function bundleResult(
  subjects: readonly Subject[],
  built: ReadonlyMap<string, BuiltBundle>,
): BundlesResult {
  const reference = built.get(INCREMENT_REFERENCE.id);
  if (reference === undefined) throw new Error('the increment reference was not built');
  const rows = subjects.flatMap((subject): BundleRow[] => {
    const bundle = built.get(subject.id);
    if (bundle === undefined) return [];
    return [
      {
        id: subject.id,
        kind: subject.kind,
        bytes: bundle.bytes,
        mapBytes: bundle.mapBytes,
        ratio: ratio(bundle.bytes, reference.bytes),
        topPackages: bundle.byPackage.slice(0, 6),
      },
    ];
  });
  const increment = built.get('increment-counter');
  return {
    reference: reference.id,
    target: BUNDLE_TARGET,
    rows,
    incrementExtraByPackage: increment === undefined ? [] : packageDifference(increment, reference),
  };
}

/** What a bundle holds beyond the reference, package by package, largest first. */
export function packageDifference(
  bundle: BuiltBundle,
  reference: BuiltBundle,
): { name: string; bytes: number }[] {
  const base = new Map(reference.byPackage.map((entry) => [entry.name, entry.bytes]));
  return bundle.byPackage
    .map((entry) => ({ name: entry.name, bytes: entry.bytes - (base.get(entry.name) ?? 0) }))
    .filter((entry) => entry.bytes > 0)
    .sort((a, b) => b.bytes - a.bytes);
}

export function bundlesMarkdown(result: BundlesResult): string {
  const table = markdownTable(
    ['bundle', 'minified JS', 'source map', `ratio to ${result.reference}`, 'target <= 2x', 'largest inputs'],
    result.rows.map((row) => [
      row.id,
      formatBytes(row.bytes),
      formatBytes(row.mapBytes),
      formatRatio(row.ratio),
      row.kind === 'reference' ? '' : verdict(row.ratio, result.target),
      row.topPackages
        .slice(0, 3)
        .map((p) => `${p.name} ${formatBytes(p.bytes)}`)
        .join(', '),
    ]),
  );
  const extra = result.incrementExtraByPackage
    .slice(0, 8)
    .map((p) => `${p.name} +${formatBytes(p.bytes)}`)
    .join(', ');
  return `${table}\n\nincrement-counter beyond the reference, by package: ${extra === '' ? 'nothing' : extra}`;
}
