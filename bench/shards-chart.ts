/**
 * docs/benchmarks/shards.svg: acknowledged increments per second against N, one curve per run (and,
 * for a run whose increments fell back to 204 for want of a read, its 200s dotted), with the N x limit
 * ceiling. The machine's unlimited rate is stated, not drawn: it is far above the limits, and drawing
 * it would flatten the curves.
 */
import { chartLabel, readBackFell, type ShardsDocument, type ShardsReport } from './shards-document.ts';
import { escapeXml } from './svg.ts';

const CHART_COLOURS = ['#3f6fb5', '#e08a00', '#2e7d32', '#8e24aa', '#00838f'];
const WIDTH = 720;
const HEIGHT = 400;
const MARGIN = { left: 70, right: 250, top: 44, bottom: 50 };
const PLOT_WIDTH = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_HEIGHT = HEIGHT - MARGIN.top - MARGIN.bottom;

/** Where values land on the chart: N along x, increments per second up y. */
interface Scale {
  maxN: number;
  limit: number;
  x: (n: number) => number;
  y: (value: number) => number;
}

/** A label at the right end of a line. */
interface End {
  value: number;
  colour: string;
  text: string;
}

/** An entry of the legend, in the plot's upper left, which the curves (rising to the right) leave empty. */
interface LegendEntry {
  colour: string;
  dotted: boolean;
  text: string;
}

export function shardsChart(document: ShardsDocument): string {
  const { runs } = document;
  const limit = runs[0]?.settings.limit.writesPerSecond ?? 1;
  const maxN = Math.max(1, ...runs.flatMap((run) => run.rows.map((row) => row.shards)));
  const maxY = niceCeiling(
    Math.max(
      maxN * limit,
      ...runs.flatMap((run) => run.rows.map((row) => row.acknowledgedPerSecond)).filter(Number.isFinite),
    ) * 1.1,
  );
  const scale: Scale = {
    maxN,
    limit,
    x: (n) => MARGIN.left + (n / maxN) * PLOT_WIDTH,
    y: (value) => MARGIN.top + PLOT_HEIGHT - (Math.max(0, value) / maxY) * PLOT_HEIGHT,
  };
  const dates = [...new Set(runs.map((run) => run.generatedAt.slice(0, 10)))].join(', ');
  const title = `Acknowledged increments/s against shards N, ${limit} writes/s per item (${dates})`;
  const ends: End[] = [
    { value: maxN * limit, colour: '#c62828', text: `${maxN * limit}: N x ${limit}/s, the write limit` },
  ];
  const legend: LegendEntry[] = [];
  const curves = runs.flatMap((run, index) => runCurves(run, index, scale, ends, legend));
  return `${[
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="10" y="22" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    ...frame(runs, scale, maxY),
    ...curves,
    ...endLabels(ends, scale),
    ...legendLines(legend, runs),
    '</svg>',
  ].join('\n')}\n`;
}

/** Grid lines and their values, the N ticks, the axes and their titles, and the ceiling. */
function frame(runs: readonly ShardsReport[], { x, y, maxN, limit }: Scale, maxY: number): string[] {
  const parts: string[] = [];
  const ticks = 5;
  for (let i = 0; i <= ticks; i++) {
    const value = (maxY / ticks) * i;
    parts.push(
      `<line x1="${MARGIN.left}" y1="${y(value).toFixed(1)}" x2="${MARGIN.left + PLOT_WIDTH}" y2="${y(value).toFixed(1)}" stroke="#e0e0e0"/>`,
      `<text x="${MARGIN.left - 8}" y="${(y(value) + 4).toFixed(1)}" text-anchor="end">${value.toFixed(0)}</text>`,
    );
  }
  for (const shards of new Set(runs.flatMap((run) => run.rows.map((row) => row.shards)))) {
    parts.push(
      `<text x="${x(shards).toFixed(1)}" y="${MARGIN.top + PLOT_HEIGHT + 18}" text-anchor="middle">${shards}</text>`,
    );
  }
  parts.push(
    `<line x1="${MARGIN.left}" y1="${MARGIN.top + PLOT_HEIGHT}" x2="${MARGIN.left + PLOT_WIDTH}" y2="${MARGIN.top + PLOT_HEIGHT}" stroke="#424242"/>`,
    `<line x1="${MARGIN.left}" y1="${MARGIN.top}" x2="${MARGIN.left}" y2="${MARGIN.top + PLOT_HEIGHT}" stroke="#424242"/>`,
    `<text x="${MARGIN.left + PLOT_WIDTH / 2}" y="${HEIGHT - 12}" text-anchor="middle">shards N</text>`,
    `<text x="18" y="${MARGIN.top + PLOT_HEIGHT / 2}" text-anchor="middle" transform="rotate(-90 18 ${MARGIN.top + PLOT_HEIGHT / 2})">acknowledged increments/s (200 + 204)</text>`,
    // The ceiling: N x limit, a straight line through the origin.
    `<line x1="${x(0).toFixed(1)}" y1="${y(0).toFixed(1)}" x2="${x(maxN).toFixed(1)}" y2="${y(maxN * limit).toFixed(1)}" stroke="#c62828" stroke-dasharray="5 4"/>`,
  );
  return parts;
}

/** A run's curve and points, and its 200s dotted where some increments fell back to 204; adds its labels. */
function runCurves(run: ShardsReport, index: number, { x, y }: Scale, ends: End[], legend: LegendEntry[]) {
  const colour = CHART_COLOURS[index % CHART_COLOURS.length] ?? '#3f6fb5';
  const rows = run.rows.filter((row) => Number.isFinite(row.acknowledgedPerSecond));
  const points = rows.map((row) => `${x(row.shards).toFixed(1)},${y(row.acknowledgedPerSecond).toFixed(1)}`);
  const parts = [
    `<polyline points="${points.join(' ')}" fill="none" stroke="${colour}" stroke-width="2"/>`,
    ...rows.map(
      (row) =>
        `<circle cx="${x(row.shards).toFixed(1)}" cy="${y(row.acknowledgedPerSecond).toFixed(1)}" r="3.5" fill="${colour}"/>`,
    ),
  ];
  const last = rows.at(-1);
  if (last !== undefined)
    ends.push({
      value: last.acknowledgedPerSecond,
      colour,
      text: `${last.acknowledgedPerSecond.toFixed(1)}: run ${index + 1}`,
    });
  legend.push({ colour, dotted: false, text: `run ${index + 1}: ${chartLabel(run)}` });
  // Where some increments answered 204 for want of a read, the 200s alone show the read-back cap.
  if (readBackFell(run)) {
    const okPoints = rows.map((row) => `${x(row.shards).toFixed(1)},${y(row.okPerSecond).toFixed(1)}`);
    parts.push(
      `<polyline points="${okPoints.join(' ')}" fill="none" stroke="${colour}" stroke-width="2" stroke-dasharray="2 3"/>`,
    );
    legend.push({ colour, dotted: true, text: `run ${index + 1}: of which 200 (counter read back)` });
    if (last !== undefined)
      ends.push({
        value: last.okPerSecond,
        colour,
        text: `${last.okPerSecond.toFixed(1)}: run ${index + 1}, 200s`,
      });
  }
  return parts;
}

/** Labels at the right end of each line, spread so that they do not overlap. */
function endLabels(ends: readonly End[], { x, y, maxN }: Scale): string[] {
  const placed = spreadLabels(
    ends.map((end) => y(end.value) + 4),
    14,
  );
  return ends.map(
    (end, index) =>
      `<text x="${(x(maxN) + 8).toFixed(1)}" y="${(placed[index] ?? 0).toFixed(1)}" fill="${end.colour}">${escapeXml(end.text)}</text>`,
  );
}

/** The legend, then the machine's unlimited rate in words. */
function legendLines(legend: readonly LegendEntry[], runs: readonly ShardsReport[]): string[] {
  const parts = legend.flatMap((entry, index) => {
    const at = MARGIN.top + 14 + index * 18;
    return [
      `<line x1="${MARGIN.left + 12}" y1="${at}" x2="${MARGIN.left + 32}" y2="${at}" stroke="${entry.colour}" stroke-width="2"${entry.dotted ? ' stroke-dasharray="2 3"' : ''}/>`,
      `<text x="${MARGIN.left + 36}" y="${at + 4}" fill="${entry.colour}">${escapeXml(entry.text)}</text>`,
    ];
  });
  const unlimitedRates = runs.map((run) => run.unlimited.okPerSecond).filter(Number.isFinite);
  if (unlimitedRates.length > 0) {
    const low = Math.min(...unlimitedRates).toFixed(0);
    const high = Math.max(...unlimitedRates).toFixed(0);
    const at = MARGIN.top + 14 + legend.length * 18 + 6;
    parts.push(
      `<text x="${MARGIN.left + 12}" y="${at}" fill="#616161">${escapeXml(`No limit (a plain counter): ${low === high ? low : `${low}-${high}`}/s, off this chart.`)}</text>`,
    );
  }
  return parts;
}

/** Label heights spread so that none overlaps the next, keeping each as near its own value as can be. */
function spreadLabels(wanted: number[], gap: number): number[] {
  const order = wanted.map((at, index) => ({ at, index })).sort((a, b) => a.at - b.at);
  const placed = new Array<number>(wanted.length);
  let previous = Number.NEGATIVE_INFINITY;
  for (const { at, index } of order) {
    const y = Math.max(at, previous + gap);
    placed[index] = y;
    previous = y;
  }
  return placed.map((y) => y ?? 0);
}

function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10])
    if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}
