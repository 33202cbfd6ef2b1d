import type { APIGatewayProxyEventV2WithIAMAuthorizer } from 'aws-lambda';
import type { BuiltBundle } from './bundling.ts';
import { context, type HttpCall, httpEvent, importBundle, type LambdaHandler, statusOf } from './invoke.ts';
import { withEnvironment } from './local-service.ts';
import {
  chunkMeans,
  formatMicros,
  formatMs,
  formatRatio,
  markdownTable,
  mean,
  pairedRatio,
  ratio,
  type Summary,
  summarize,
  type Target,
  verdict,
} from './stats.ts';

export const CPU_TARGET: Target = { max: 1.2, label: 'warm CPU per invocation within 1.2x of the reference' };

/** A deployed handler and the reference that makes the same DynamoDB call and nothing else. */
export interface CpuPair {
  name: string;
  handler: string;
  reference: string;
  /** The request both answer (each on its own counter, so neither waits for the other's item). */
  call: (counter: string) => HttpCall;
  expectedStatus: number;
}

export const CPU_PAIRS: CpuPair[] = [
  {
    name: 'plain increment',
    handler: 'increment-counter',
    reference: 'increment-reference',
    call: (counter) => ({
      method: 'POST',
      route: '/counters/{name}',
      path: `/counters/${counter}`,
      pathParameters: { name: counter },
    }),
    expectedStatus: 200,
  },
  {
    name: 'get',
    handler: 'get-counter',
    reference: 'get-reference',
    call: (counter) => ({
      method: 'GET',
      route: '/counters/{name}',
      path: `/counters/${counter}`,
      pathParameters: { name: counter },
    }),
    expectedStatus: 200,
  },
];

export interface CpuSide {
  id: string;
  /** CPU time of this process (user + system, all threads) per invocation, in µs. */
  cpuMicros: Summary;
  cpuMeanMicros: number;
  /** Wall time per invocation against the local engine, in ms. */
  wallMs: Summary;
}

export interface CpuRow {
  name: string;
  handler: CpuSide;
  reference: CpuSide;
  /** Handler median CPU / reference median CPU: the figure held against the target. */
  ratioMedian: number;
  /** The same with means, which include the odd garbage collection. */
  ratioMean: number;
  /** The median of block-by-block ratios (each handler block against the reference block beside it). */
  pairedRatio: number;
}

export interface CpuResult {
  target: Target;
  warmup: number;
  invocations: number;
  rows: CpuRow[];
}

/**
 * Warm invocations in this process against the local engine (another process, so its work is not
 * counted): each pair alternates in blocks, handler then reference then handler..., so both see the
 * same machine. process.cpuUsage() counts every thread of this process, garbage collection included.
 */
export async function measureCpu(
  bundles: ReadonlyMap<string, BuiltBundle>,
  environment: Record<string, string>,
  options: { warmup: number; invocations: number; block?: number },
): Promise<CpuResult> {
  // The whole section runs with the function's environment: a client created lazily, on a first
  // request rather than at import, must find the same endpoint and tables.
  return withEnvironment(environment, () => measurePairs(bundles, options));
}

async function measurePairs(
  bundles: ReadonlyMap<string, BuiltBundle>,
  options: { warmup: number; invocations: number; block?: number },
): Promise<CpuResult> {
  const rows: CpuRow[] = [];
  // Creates the counters the pairs work on, through the real handler, so each item has exactly the
  // shape the current code writes (a GET needs its counter to exist).
  const creatorBundle = bundles.get('increment-counter');
  if (creatorBundle === undefined) throw new Error('the CPU section needs the increment-counter bundle');
  const creator = await importBundle<APIGatewayProxyEventV2WithIAMAuthorizer>(
    creatorBundle.file,
    'cpu-setup',
  );
  for (const pair of CPU_PAIRS) {
    const handlerBundle = bundles.get(pair.handler);
    const referenceBundle = bundles.get(pair.reference);
    if (handlerBundle === undefined || referenceBundle === undefined) continue;
    const sides: PairSide[] = [
      { id: pair.handler, file: handlerBundle.file },
      { id: pair.reference, file: referenceBundle.file },
    ].map(({ id, file }) => ({ id, counter: `bench-cpu-${id}`, file, cpu: [], wall: [] }));
    for (const side of sides) {
      const created = await creator(httpEvent(incrementOf(side.counter)), context('increment-counter'));
      if (statusOf(created) !== 200)
        throw new Error(`creating ${side.counter} answered ${statusOf(created)}`);
    }
    const block = options.block ?? 20;
    await samplePair(pair, sides, { ...options, block });
    rows.push(rowOf(pair, sides, block));
  }
  return { target: CPU_TARGET, warmup: options.warmup, invocations: options.invocations, rows };
}

/** One side of a pair: its bundle, its counter, and the samples taken of it. */
interface PairSide {
  id: string;
  counter: string;
  file: string;
  cpu: number[];
  wall: number[];
}

/** Blocks of `block` invocations, the sides alternating, who goes first alternating too. */
async function samplePair(
  pair: CpuPair,
  sides: PairSide[],
  options: { warmup: number; invocations: number; block: number },
): Promise<void> {
  const handlers = new Map<string, LambdaHandler<APIGatewayProxyEventV2WithIAMAuthorizer>>();
  for (const side of sides) handlers.set(side.id, await importBundle(side.file, 'cpu'));
  const { block } = options;
  const rounds = Math.ceil((options.warmup + options.invocations) / block);
  for (let round = 0; round < rounds; round++) {
    const measured = round * block >= options.warmup;
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) {
      const run = handlers.get(side.id);
      if (run === undefined) continue;
      for (let i = 0; i < block; i++) {
        const event = httpEvent(pair.call(side.counter));
        const ctx = context(side.id);
        const cpuBefore = process.cpuUsage();
        const wallBefore = performance.now();
        const result = await run(event, ctx);
        const wall = performance.now() - wallBefore;
        const cpu = process.cpuUsage(cpuBefore);
        if (statusOf(result) !== pair.expectedStatus) {
          throw new Error(`${side.id} answered ${statusOf(result)}: ${JSON.stringify(result)}`);
        }
        if (measured) {
          side.cpu.push(cpu.user + cpu.system);
          side.wall.push(wall);
        }
      }
    }
  }
}

function rowOf(pair: CpuPair, sides: readonly PairSide[], block: number): CpuRow {
  const find = (id: string) => sides.find((side) => side.id === id) ?? { cpu: [], wall: [] };
  const summary = (id: string): CpuSide => {
    const { cpu, wall } = find(id);
    return { id, cpuMicros: summarize(cpu), cpuMeanMicros: mean(cpu), wallMs: summarize(wall) };
  };
  const handler = summary(pair.handler);
  const reference = summary(pair.reference);
  return {
    name: pair.name,
    handler,
    reference,
    ratioMedian: ratio(handler.cpuMicros.median, reference.cpuMicros.median),
    ratioMean: ratio(handler.cpuMeanMicros, reference.cpuMeanMicros),
    pairedRatio: pairedRatio(
      chunkMeans(find(pair.handler).cpu, block),
      chunkMeans(find(pair.reference).cpu, block),
    ),
  };
}

function incrementOf(counter: string): HttpCall {
  return {
    method: 'POST',
    route: '/counters/{name}',
    path: `/counters/${counter}`,
    pathParameters: { name: counter },
  };
}

export function cpuMarkdown(result: CpuResult): string {
  return markdownTable(
    [
      'operation',
      'handler CPU median (mean)',
      'reference CPU median (mean)',
      'ratio median',
      'ratio mean',
      'paired block ratio',
      'target <= 1.2x',
      'handler wall median',
      'reference wall median',
    ],
    result.rows.map((row) => [
      `${row.name} (${row.handler.id} vs ${row.reference.id})`,
      `${formatMicros(row.handler.cpuMicros.median)} (${formatMicros(row.handler.cpuMeanMicros)})`,
      `${formatMicros(row.reference.cpuMicros.median)} (${formatMicros(row.reference.cpuMeanMicros)})`,
      formatRatio(row.ratioMedian),
      formatRatio(row.ratioMean),
      formatRatio(row.pairedRatio),
      verdict(row.ratioMedian, result.target),
      formatMs(row.handler.wallMs.median),
      formatMs(row.reference.wallMs.median),
    ]),
  );
}
