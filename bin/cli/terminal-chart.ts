import type { SeriesBucket, SeriesInterval } from '../../client/counter-client.ts';

const STEP_MS: Record<SeriesInterval, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
const BLOCKS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

export interface ChartOptions {
  interval: SeriesInterval;
  /** Columns for the plot itself, labels aside. */
  width: number;
  /** Rows for the plot; each row draws eight levels. */
  height?: number;
}

/**
 * A counter's series as a small bar chart of its value over time, for a terminal. The API answers only
 * the buckets that hold changes; the chart puts them on a time axis (a bucket without changes keeps the
 * value before it), so a quiet hour looks quiet rather than vanishing. When the span needs more columns
 * than `width`, each column covers several buckets and shows the value at its end.
 */
export function renderSeriesChart(buckets: readonly SeriesBucket[], options: ChartOptions): string[] {
  const first = buckets[0];
  const last = buckets.at(-1);
  if (first === undefined || last === undefined) return ['no changes in this window'];
  const step = STEP_MS[options.interval];
  const height = Math.max(1, options.height ?? 8);
  const start = Date.parse(first.start);
  const slots = Math.round((Date.parse(last.start) - start) / step) + 1;
  const perColumn = Math.max(1, Math.ceil(slots / Math.max(1, options.width)));
  const columns = Math.ceil(slots / perColumn);

  // The value at the end of each column: the last bucket at or before the column's last slot.
  const values: number[] = [];
  let next = 0;
  let value = first.value;
  for (let column = 0; column < columns; column++) {
    const end = start + (column + 1) * perColumn * step;
    for (let bucket = buckets[next]; bucket !== undefined && Date.parse(bucket.start) < end; ) {
      value = bucket.value;
      bucket = buckets[++next];
    }
    values.push(value);
  }

  const low = Math.min(...values);
  const high = Math.max(...values);
  const levels = height * 8;
  // Every column shows at least one eighth, so the lowest value is still visible.
  const levelOf = (v: number) =>
    high === low ? Math.ceil(levels / 2) : 1 + Math.round(((v - low) / (high - low)) * (levels - 1));
  // A flat series gets one label, beside the bars' baseline.
  const highLabel = high === low ? '' : String(high);
  const lowLabel = String(low);
  const labelWidth = Math.max(highLabel.length, lowLabel.length);

  const lines: string[] = [];
  for (let row = height - 1; row >= 0; row--) {
    const label = row === height - 1 ? highLabel : row === 0 ? lowLabel : '';
    const axis = row === height - 1 || row === 0 ? '┤' : '│';
    const cells = values.map((v) => {
      const filled = levelOf(v) - row * 8;
      if (filled <= 0) return ' ';
      return BLOCKS[Math.min(8, filled) - 1] ?? ' ';
    });
    lines.push(`${label.padStart(labelWidth)} ${axis}${cells.join('').trimEnd()}`);
  }
  lines.push(`${' '.repeat(labelWidth)} └${'─'.repeat(columns)}`);
  const from = timeLabel(first.start, options.interval);
  const to = timeLabel(new Date(start + (columns - 1) * perColumn * step).toISOString(), options.interval);
  const gap = Math.max(2, columns - from.length - to.length + 1);
  lines.push(`${' '.repeat(labelWidth + 2)}${columns > 1 ? `${from}${' '.repeat(gap)}${to}` : from}`);
  const changes = buckets.reduce((sum, bucket) => sum + bucket.count, 0);
  const span =
    perColumn === 1 ? `a column per ${options.interval}` : `a column per ${perColumn} ${options.interval}s`;
  lines.push(
    `${changes} ${changes === 1 ? 'change' : 'changes'} in ${buckets.length} ` +
      `${buckets.length === 1 ? 'bucket' : 'buckets'} (UTC, ${span}); value ${first.value} to ${last.value}`,
  );
  return lines;
}

/** A bucket's start as short as its interval allows, in UTC. */
export function timeLabel(iso: string, interval: SeriesInterval): string {
  const text = new Date(iso).toISOString();
  return interval === 'day' ? text.slice(0, 10) : `${text.slice(0, 10)} ${text.slice(11, 16)}`;
}
