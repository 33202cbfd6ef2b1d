import { describe, expect, it } from 'vitest';
import {
  chunkMeans,
  formatDollars,
  formatRatio,
  interleavedOrder,
  markdownTable,
  median,
  pairedRatio,
  percentile,
  ratio,
  summarize,
  verdict,
} from '../../bench/stats.ts';

describe('benchmark statistics', () => {
  it('takes the median of odd and even samples without reordering the input', () => {
    // Prepare
    const odd = [5, 1, 3];
    const even = [4, 1, 3, 2];

    // Act
    const results = [median(odd), median(even)];

    // Assess
    expect(results).toEqual([3, 2.5]);
    expect(odd).toEqual([5, 1, 3]);
  });

  it('takes nearest-rank percentiles', () => {
    // Prepare
    const samples = Array.from({ length: 10 }, (_, i) => i + 1);

    // Act
    const p90 = percentile(samples, 90);
    const p99 = percentile(samples, 99);
    const p10 = percentile(samples, 10);

    // Assess
    expect([p10, p90, p99]).toEqual([1, 9, 10]);
  });

  it('answers NaN, not a number that looks real, when there is nothing to summarize', () => {
    // Act
    const summary = summarize([]);

    // Assess
    expect(summary.n).toBe(0);
    expect(summary.median).toBeNaN();
    expect(summary.p90).toBeNaN();
    expect(ratio(5, 0)).toBeNaN();
    expect(formatRatio(Number.NaN)).toBe('n/a');
  });

  it('holds a ratio against its target: at the limit is met, above it missed, unknown when not measured', () => {
    // Prepare
    const target = { max: 1.5, label: 'init' };

    // Act
    const verdicts = [verdict(1.5, target), verdict(1.51, target), verdict(Number.NaN, target)];

    // Assess
    expect(verdicts).toEqual(['met', 'missed', 'unknown']);
    expect(formatRatio(ratio(3, 2))).toBe('1.50x');
  });

  it('rotates the order of every round so no subject always runs first', () => {
    // Act
    const order = interleavedOrder(['a', 'b', 'c'], 3);

    // Assess
    expect(order).toEqual(['a', 'b', 'c', 'b', 'c', 'a', 'c', 'a', 'b']);
  });

  it('renders a Markdown table with padded columns and escaped pipes', () => {
    // Act
    const table = markdownTable(
      ['name', 'value'],
      [
        ['a|b', '1'],
        ['long name', '22'],
      ],
    );

    // Assess
    expect(table.split('\n')).toEqual([
      '| name      | value |',
      '| --------- | ----- |',
      '| a\\|b      | 1     |',
      '| long name | 22    |',
    ]);
  });

  it('formats dollars with cents, and small amounts with two significant digits', () => {
    // Act
    const shown = [formatDollars(3.456), formatDollars(0.00333), formatDollars(0)];

    // Assess
    expect(shown).toEqual(['$3.46', '$0.0033', '$0']);
  });
});

describe('paired ratios', () => {
  it('compares each round with its own reference, so a busy spell on both sides cancels out', () => {
    // Prepare: the machine slows down tenfold halfway; the subject is always 1.5x the reference.
    const reference = [10, 10, 100, 100, 100];
    const measured = [15, 15, 150, 150, 150];

    // Act
    const paired = pairedRatio(measured, reference);

    // Assess
    expect(paired).toBeCloseTo(1.5, 9);
  });

  it('averages consecutive blocks, dropping an incomplete last one', () => {
    // Act
    const means = chunkMeans([1, 3, 5, 7, 100], 2);

    // Assess
    expect(means).toEqual([2, 6]);
  });
});
