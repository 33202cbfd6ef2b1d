import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BenchReport } from './report.ts';
import { INCREMENT_REFERENCE } from './subjects.ts';
import { barChart } from './svg.ts';

/** The charts docs/performance.md shows, drawn from a report into `dir`. */
export async function writeCharts(report: BenchReport, dir: string): Promise<void> {
  if (report.init !== undefined) {
    const reference = report.init.rows.find((row) => row.id === INCREMENT_REFERENCE.id)?.importMs.median;
    await writeFile(
      path.join(dir, 'init-time.svg'),
      barChart({
        title: `Module init, median of ${report.init.runsPerBundle} fresh processes (${report.generatedAt.slice(0, 10)})`,
        unit: 'ms',
        bars: report.init.rows.map((row) => ({
          label: row.id,
          value: row.importMs.median,
          reference: row.kind === 'reference',
        })),
        ...(reference === undefined ? {} : { marker: { value: reference * 1.5, label: '1.5x reference' } }),
      }),
    );
  }
  if (report.bundles !== undefined) {
    const reference = report.bundles.rows.find((row) => row.id === INCREMENT_REFERENCE.id)?.bytes;
    await writeFile(
      path.join(dir, 'bundle-size.svg'),
      barChart({
        title: `Bundle size, minified (${report.generatedAt.slice(0, 10)})`,
        unit: 'KiB',
        bars: report.bundles.rows.map((row) => ({
          label: row.id,
          value: row.bytes / 1024,
          reference: row.kind === 'reference',
        })),
        ...(reference === undefined
          ? {}
          : { marker: { value: (reference / 1024) * 2, label: '2x reference' } }),
      }),
    );
  }
  if (report.cost !== undefined) {
    await writeFile(
      path.join(dir, 'price-by-batch.svg'),
      barChart({
        title: `A million plain increments, by changes of one counter per consumer batch (${report.generatedAt.slice(0, 10)})`,
        unit: '$',
        bars: report.cost.plainIncrementByBatch.map((point) => ({
          label: `${point.changes} per batch`,
          value: point.dollars,
        })),
        marker: { value: report.cost.target.max, label: `target $${report.cost.target.max.toFixed(2)}` },
      }),
    );
  }
}
