import { describe, expect, it } from 'vitest';
import { barChart } from '../../bench/svg.ts';

describe('barChart', () => {
  it('draws an accessible SVG with a title and escaped labels', () => {
    // Act
    const svg = barChart({
      title: 'Init <median>',
      unit: 'ms',
      bars: [
        { label: 'a & b', value: 2 },
        { label: 'reference', value: 1, reference: true },
      ],
      marker: { value: 1.5, label: '1.5x' },
    });

    // Assess
    expect(svg).toMatch(/^<svg [^>]*role="img"/);
    expect(svg).toContain('<title>Init &lt;median&gt;</title>');
    expect(svg).toContain('a &amp; b');
    expect(svg).toContain('stroke-dasharray');
  });
});
