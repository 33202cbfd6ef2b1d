import path from 'node:path';
import type { BenchReport } from './report.ts';
import type { ReportFile } from './report-files.ts';
import { INCREMENT_REFERENCE } from './subjects.ts';
import { barChart } from './svg.ts';

/** The charts docs/performance.md shows, drawn from a report, as files in `dir`. */
export function chartFiles(report: BenchReport, dir: string): ReportFile[] {
  const date = report.generatedAt.slice(0, 10);
  const files: ReportFile[] = [];
  if (report.init !== undefined) {
    const reference = report.init.rows.find((row) => row.id === INCREMENT_REFERENCE.id)?.importMs.median;
    files.push({
      file: path.join(dir, 'init-time.svg'),
      text: barChart({
        title: `Module init, median of ${report.init.runsPerBundle} fresh processes (${date})`,
        unit: 'ms',
        bars: report.init.rows.map((row) => ({
          label: row.id,
          value: row.importMs.median,
          reference: row.kind === 'reference',
        })),
        ...(reference === undefined ? {} : { marker: { value: reference * 1.5, label: '1.5x reference' } }),
      }),
    });
  }
  if (report.bundles !== undefined) {
    const reference = report.bundles.rows.find((row) => row.id === INCREMENT_REFERENCE.id)?.bytes;
    files.push({
      file: path.join(dir, 'bundle-size.svg'),
      text: barChart({
        title: `Bundle size, minified (${date})`,
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
    });
  }
  if (report.cost !== undefined) {
    files.push({
      file: path.join(dir, 'price-by-batch.svg'),
      text: barChart({
        title: `A million plain increments, by changes of one counter per consumer batch (${date})`,
        unit: '$',
        bars: report.cost.plainIncrementByBatch.map((point) => ({
          label: `${point.changes} per batch`,
          value: point.dollars,
        })),
        marker: { value: report.cost.target.max, label: `target $${report.cost.target.max.toFixed(2)}` },
      }),
    });
  }
  return files;
}
