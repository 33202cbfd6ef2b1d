import { describe, expect, it } from 'vitest';
import { renderSeriesChart, timeLabel } from '../../bin/cli/terminal-chart.ts';

const bucket = (start: string, value: number, count = 1) => ({ start, value, count, delta: 0 });

describe('renderSeriesChart', () => {
  it('draws a column per bucket on a time axis, a quiet hour keeping the value before it', () => {
    const lines = renderSeriesChart(
      [
        bucket('2026-01-01T10:00:00.000Z', 2, 2),
        bucket('2026-01-01T12:00:00.000Z', 6, 1),
        bucket('2026-01-01T13:00:00.000Z', 4, 3),
      ],
      { interval: 'hour', width: 40, height: 2 },
    );

    expect(lines).toEqual([
      '6 ┤  █▁',
      '2 ┤▁▁██',
      '  └────',
      '   2026-01-01 10:00  2026-01-01 13:00',
      '6 changes in 3 buckets (UTC, a column per hour); value 2 to 4',
    ]);
  });

  it('gives each column several buckets when the span is wider than the chart, showing the value at its end', () => {
    const buckets = Array.from({ length: 10 }, (_, minute) =>
      bucket(`2026-01-01T10:0${minute}:00.000Z`, minute + 1),
    );

    const lines = renderSeriesChart(buckets, { interval: 'minute', width: 5, height: 1 });

    // Columns end at values 2, 4, 6, 8, 10: five rising bars, the lowest still visible.
    expect(lines[0]).toBe('10 ┤▁▃▅▆█');
    expect(lines[1]).toBe('   └─────');
    expect(lines.at(-1)).toBe('10 changes in 10 buckets (UTC, a column per 2 minutes); value 1 to 10');
  });

  it('draws a flat series at half height with one label', () => {
    const lines = renderSeriesChart([bucket('2026-01-01T00:00:00.000Z', 7, 3)], {
      interval: 'day',
      width: 40,
      height: 2,
    });

    expect(lines.slice(0, 4)).toEqual(['  ┤', '7 ┤█', '  └─', '   2026-01-01']);
  });

  it('says so when there is nothing to draw', () => {
    expect(renderSeriesChart([], { interval: 'hour', width: 40 })).toEqual(['no changes in this window']);
  });
});

describe('timeLabel', () => {
  it('shortens a bucket start to what its interval needs', () => {
    expect(timeLabel('2026-03-04T05:06:00.000Z', 'minute')).toBe('2026-03-04 05:06');
    expect(timeLabel('2026-03-04T00:00:00.000Z', 'day')).toBe('2026-03-04');
  });
});
