/**
 * Business metrics in CloudWatch's embedded metric format (EMF): one JSON line on stdout per change,
 * which CloudWatch Logs turns into metrics in the `CounterService` namespace with the dimension
 * `service`, exactly the document Powertools Metrics wrote before. Written here rather than with
 * Powertools Metrics: one line is all the changing handlers need, and building it through Powertools
 * cost the increment handler about 7% of its warm CPU (docs/performance.md).
 *
 * `POWERTOOLS_METRICS_DISABLED=true` (the local server's and the tests' default) publishes nothing.
 */
export type MetricName = 'Increments' | 'Sets' | 'Deletes' | 'Replays' | 'Conflicts' | 'Throttled';

const NAMESPACE = 'CounterService';

/** The EMF document counting each of `names` once. */
export function emfLine(names: readonly MetricName[], timestamp: number, service: string): string {
  const values: Record<string, number> = {};
  for (const name of names) values[name] = 1;
  return JSON.stringify({
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [
        {
          Namespace: NAMESPACE,
          Dimensions: [['service']],
          Metrics: names.map((name) => ({ Name: name, Unit: 'Count' })),
        },
      ],
    },
    service,
    ...values,
  });
}

/** Writes the line for `names` (nothing if there are none, or metrics are disabled). */
export function publishCounts(names: readonly MetricName[]): void {
  if (names.length === 0 || process.env.POWERTOOLS_METRICS_DISABLED === 'true') return;
  const service = process.env.POWERTOOLS_SERVICE_NAME ?? 'counter-service';
  // stdout directly, as Powertools did: on Lambda a console.log line would carry a prefix EMF cannot parse.
  process.stdout.write(`${emfLine(names, Date.now(), service)}\n`);
}
