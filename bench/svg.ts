/**
 * A horizontal bar chart as plain SVG text: enough for the docs, and no charting dependency.
 */
export interface Bar {
  label: string;
  value: number;
  /** Drawn in a second colour: the reference. */
  reference?: boolean;
}

export function barChart(options: {
  title: string;
  unit: string;
  bars: readonly Bar[];
  /** A dashed line at this value, e.g. the reference times the target ratio. */
  marker?: { value: number; label: string };
}): string {
  const rowHeight = 26;
  // About 7 px per character at 12 px sans-serif, so the longest label fits left of the bars.
  const labelWidth = Math.max(120, 20 + 7 * Math.max(...options.bars.map((bar) => bar.label.length)));
  const chartWidth = 420;
  const valueWidth = 90;
  const top = 40;
  const width = labelWidth + chartWidth + valueWidth;
  const height = top + options.bars.length * rowHeight + 30;
  const finite = options.bars.map((bar) => bar.value).filter(Number.isFinite);
  const max = Math.max(...finite, options.marker?.value ?? 0, Number.EPSILON);
  const x = (value: number) => labelWidth + (Math.max(0, value) / max) * chartWidth;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(options.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="10" y="22" font-size="14" font-weight="bold">${escapeXml(options.title)}</text>`,
  ];
  options.bars.forEach((bar, i) => {
    const y = top + i * rowHeight;
    const value = Number.isFinite(bar.value) ? bar.value : 0;
    parts.push(
      `<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end">${escapeXml(bar.label)}</text>`,
      `<rect x="${labelWidth}" y="${y + 3}" width="${(x(value) - labelWidth).toFixed(1)}" height="${rowHeight - 8}" fill="${bar.reference === true ? '#9e9e9e' : '#3f6fb5'}"/>`,
      `<text x="${(x(value) + 6).toFixed(1)}" y="${y + 15}">${escapeXml(`${formatValue(bar.value)} ${options.unit}`)}</text>`,
    );
  });
  if (options.marker !== undefined && Number.isFinite(options.marker.value)) {
    const mx = x(options.marker.value).toFixed(1);
    const bottom = top + options.bars.length * rowHeight;
    parts.push(
      `<line x1="${mx}" y1="${top - 4}" x2="${mx}" y2="${bottom}" stroke="#c62828" stroke-dasharray="4 3"/>`,
      `<text x="${mx}" y="${bottom + 16}" text-anchor="middle" fill="#c62828">${escapeXml(options.marker.label)}</text>`,
    );
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function formatValue(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

export function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
}
