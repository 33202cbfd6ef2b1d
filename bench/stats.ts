/**
 * The arithmetic and formatting every benchmark section shares. Every figure the report states as a
 * finding is a ratio against a reference measured in the same run: absolute times on a shared
 * two-core machine say little, their ratio to something that suffered the same noise says more.
 */

/** Nearest-rank percentile (0 < p <= 100) of the samples; NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? Number.NaN;
}

/** The middle sample, or the mean of the two middle ones. */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? Number.NaN) + upper) / 2;
}

export function mean(samples: readonly number[]): number {
  if (samples.length === 0) return Number.NaN;
  return samples.reduce((sum, x) => sum + x, 0) / samples.length;
}

export interface Summary {
  n: number;
  median: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
}

export function summarize(samples: readonly number[]): Summary {
  return {
    n: samples.length,
    median: median(samples),
    p90: percentile(samples, 90),
    p99: percentile(samples, 99),
    min: samples.length === 0 ? Number.NaN : Math.min(...samples),
    max: samples.length === 0 ? Number.NaN : Math.max(...samples),
  };
}

/** measured / reference; NaN rather than Infinity when the reference is not a positive number. */
export function ratio(measured: number, reference: number): number {
  return reference > 0 && Number.isFinite(reference) ? measured / reference : Number.NaN;
}

/** A target that a ratio (or any figure) must not exceed. */
export interface Target {
  /** The figure may be at most this. */
  max: number;
  label: string;
}

/** A target that a figure must reach. */
export interface FloorTarget {
  /** The figure must be at least this. */
  min: number;
  label: string;
}

export type Verdict = 'met' | 'missed' | 'unknown';

export function floorVerdict(value: number, target: FloorTarget): Verdict {
  if (!Number.isFinite(value)) return 'unknown';
  return value >= target.min ? 'met' : 'missed';
}

export function verdict(value: number, target: Target): Verdict {
  if (!Number.isFinite(value)) return 'unknown';
  return value <= target.max ? 'met' : 'missed';
}

export function formatRatio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}x` : 'n/a';
}

/** Bytes in KiB with one decimal, or plain bytes when small. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'n/a';
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`;
}

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a';
  return ms < 10 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(1)} ms`;
}

export function formatMicros(us: number): string {
  return Number.isFinite(us) ? `${Math.round(us)} µs` : 'n/a';
}

/** Dollars with cents, or more decimals below a cent so small costs do not read as zero. */
export function formatDollars(amount: number): string {
  if (!Number.isFinite(amount)) return 'n/a';
  if (amount === 0) return '$0';
  return amount >= 0.01 ? `$${amount.toFixed(2)}` : `$${amount.toPrecision(2)}`;
}

/**
 * A GitHub-flavoured Markdown table. Cells are escaped so a `|` inside one cannot split it; columns
 * are padded so the raw text reads as a table too.
 */
export function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const escapeCell = (cell: string) => cell.replaceAll('|', '\\|').replaceAll('\n', ' ');
  const cells = [
    headers.map(escapeCell),
    ...rows.map((row) => headers.map((_, i) => escapeCell(row[i] ?? ''))),
  ];
  const widths = headers.map((_, column) =>
    Math.max(3, ...cells.map((row) => [...(row[column] ?? '')].length)),
  );
  const line = (row: readonly string[]) =>
    `| ${row.map((cell, i) => cell + ' '.repeat((widths[i] ?? 0) - [...cell].length)).join(' | ')} |`;
  const [head = [], ...body] = cells;
  return [line(head), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)].join('\n');
}

/**
 * Runs `rounds` rounds over `subjects`, each round in a rotated order, so no subject always runs
 * first or last and slow drifts in the machine's load spread over all of them.
 */
export function interleavedOrder<T>(subjects: readonly T[], rounds: number): T[] {
  const order: T[] = [];
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < subjects.length; i++) {
      const subject = subjects[(i + round) % subjects.length];
      if (subject !== undefined) order.push(subject);
    }
  }
  return order;
}

/**
 * The median of the round-by-round ratios of two equally long series measured in alternation: each
 * ratio compares samples taken moments apart, so a slow change in the machine's load cancels out
 * rather than landing on whichever side ran during the busy spell.
 */
export function pairedRatio(measured: readonly number[], reference: readonly number[]): number {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(measured.length, reference.length); i++) {
    const r = ratio(measured[i] ?? Number.NaN, reference[i] ?? Number.NaN);
    if (Number.isFinite(r)) ratios.push(r);
  }
  return median(ratios);
}

/** Splits samples into consecutive chunks of `size` and returns each chunk's mean. */
export function chunkMeans(samples: readonly number[], size: number): number[] {
  const means: number[] = [];
  for (let i = 0; i + size <= samples.length; i += size) means.push(mean(samples.slice(i, i + size)));
  return means;
}
