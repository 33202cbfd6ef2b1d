// A counter's series as a uPlot chart: the value after each bucket as a stepped line with a point per
// bucket, and each bucket's delta as bars on a second scale. Times are shown in UTC, as the API's
// buckets are. Colours come from the page's CSS variables, so the chart follows light and dark.
import uPlot from './vendor/uPlot.esm.js';

/** uPlot's columns: bucket starts in seconds, values, deltas. */
export function seriesData(buckets) {
  return [
    buckets.map((bucket) => Date.parse(bucket.start) / 1000),
    buckets.map((bucket) => bucket.value),
    buckets.map((bucket) => bucket.delta),
  ];
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/**
 * Draws the buckets into `container`, replacing any chart there, and returns the uPlot instance (or
 * undefined for no buckets). `container.dataset.points` says how many points the chart holds once drawn.
 */
const STEP_SECONDS = { minute: 60, hour: 3600, day: 86400 };

export function drawChart(container, buckets, interval, previous) {
  previous?.destroy();
  container.replaceChildren();
  delete container.dataset.points;
  if (buckets.length === 0) return undefined;
  const text = cssVar('--text');
  const grid = cssVar('--grid');
  const axis = { stroke: text, grid: { stroke: grid }, ticks: { stroke: grid } };
  const width = Math.max(280, container.clientWidth || 600);
  const data = seriesData(buckets);
  const xs = data[0];
  const half = STEP_SECONDS[interval] / 2;
  const options = {
    width,
    height: 260,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    cursor: { drag: { x: true, y: false } },
    // Half a bucket either side of the data, set outright: uPlot's own range for a lone point on a
    // time axis spans years.
    scales: {
      x: { time: true, auto: false, min: xs[0] - half, max: (xs.at(-1) ?? xs[0]) + half },
      delta: { auto: true },
    },
    axes: [
      { ...axis, label: 'UTC' },
      { ...axis, label: 'value', scale: 'y' },
      { ...axis, label: 'delta', scale: 'delta', side: 1, grid: { show: false } },
    ],
    series: [
      { label: 'time (UTC)' },
      {
        label: 'value',
        scale: 'y',
        stroke: cssVar('--accent'),
        width: 2,
        paths: uPlot.paths.stepped({ align: 1 }),
        points: { show: true, size: 6, fill: cssVar('--accent') },
      },
      {
        label: 'delta',
        scale: 'delta',
        stroke: cssVar('--delta'),
        fill: cssVar('--delta-fill'),
        paths: uPlot.paths.bars({ size: [0.6, 40] }),
        points: { show: false },
      },
    ],
    hooks: {
      draw: [
        (chart) => {
          container.dataset.points = String(chart.data[0].length);
        },
      ],
    },
  };
  return new uPlot(options, data, container);
}
