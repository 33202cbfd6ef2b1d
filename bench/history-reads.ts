import { encodeCursor } from '../functions/counter/cursor.ts';
import { counterHistory, counterSeries, listCounters } from '../functions/counter/service.ts';
import { ACTOR, type BuildResult, type DatasetPlan, manyName, NAMES, type Span } from './history-dataset.ts';
import { requestsPerCall } from './history-meter.ts';
import type { HistoryBench } from './history-setup.ts';
import {
  interleavedOrder,
  pairedRatio,
  ratio,
  type Summary,
  summarize,
  type Target,
  type Verdict,
  verdict,
} from './stats.ts';

export const READ_TARGET: Target = { max: 2, label: 'a read on the big data set within 2x of the reference' };

/**
 * A window's page may come back a little short of its limit: the query reads `limit + 1` versions from
 * the first version of `since`'s minute, and the changes of that minute before `since` are filtered
 * out afterwards (a page with a cursor to the next, as DynamoDB's own filtered pages are).
 */
const WINDOW_PAGE_AT_LEAST = 90;

/** One side of a comparison: a request through the service's domain functions, and what it must return. */
interface ReadSide {
  /** What the request is, in words, for the report. */
  request: string;
  /** Runs it and returns how many items came back; throws if the answer is wrong. */
  run: () => Promise<number>;
}

interface ReadCase {
  id: string;
  title: string;
  /** A case the issue asks for, or a control that separates two effects (not held to the target). */
  kind: 'issue' | 'control';
  big: ReadSide;
  reference: ReadSide;
}

export interface ReadSideResult {
  request: string;
  items: number;
  wallMs: Summary;
  readUnits: number;
  writeUnits: number;
  requests: string;
}

export interface ReadResult {
  id: string;
  title: string;
  kind: 'issue' | 'control';
  big: ReadSideResult;
  reference: ReadSideResult;
  /** big median / reference median: the figure held against the target. */
  ratioMedian: number;
  ratioP90: number;
  /** The median of round-by-round ratios (each big call against the reference call beside it). */
  pairedRatio: number;
  verdict: Verdict;
}

/** Where the cases read: the requests on either data set, and the moments and cursors they read from. */
interface ReadPoints {
  deepAfter: number;
  deepCursor: string;
  windowSince: string;
  windowUntil: string;
  spanSince: string;
  spanUntil: string;
  listLimit: number;
  deepListAfter: string;
}

function readPoints(plan: DatasetPlan, span: Span, build: BuildResult): ReadPoints {
  // The page a reader reaches after paging through 99% of the history (version 99,001 of 100,000).
  const deepAfter = Math.floor(plan.bigChanges * 0.99);
  const width = span.endMs - span.startMs;
  return {
    deepAfter,
    deepCursor: encodeCursor({ i: build.incarnations.big, v: deepAfter }),
    windowSince: new Date(span.startMs + width * 0.44).toISOString(),
    windowUntil: new Date(span.startMs + width * 0.56).toISOString(),
    spanSince: new Date(span.startMs).toISOString(),
    spanUntil: new Date(span.endMs).toISOString(),
    listLimit: Math.min(10, plan.fewCounters),
    deepListAfter: manyName(Math.floor(plan.manyCounters * 0.9)),
  };
}

/**
 * The requests the cases make, through the service's domain functions; each checks its answer and
 * returns how many items came back.
 */
function readRequests(deps: HistoryBench['deps'], at: ReadPoints) {
  return {
    historyPage:
      (name: string, cursor: string | undefined, firstVersion: number, expected: number, limit = 100) =>
      async () => {
        const page = await counterHistory(deps, { name, limit, cursor });
        expectCount(`history of ${name}`, page.items.length, expected);
        if (page.items[0]?.version !== firstVersion || page.items[0]?.actor !== ACTOR) {
          throw new Error(
            `history of ${name} started at version ${page.items[0]?.version}, not ${firstVersion}`,
          );
        }
        return page.items.length;
      },
    windowPage: (name: string, expectedAtLeast: number) => async () => {
      const { windowSince, windowUntil } = at;
      const page = await counterHistory(deps, { name, limit: 100, since: windowSince, until: windowUntil });
      if (page.items.length < expectedAtLeast)
        throw new Error(`window of ${name}: ${page.items.length} entries`);
      for (const entry of page.items) {
        if (entry.created_at < windowSince || entry.created_at >= windowUntil) {
          throw new Error(`window of ${name} returned a change at ${entry.created_at}`);
        }
      }
      return page.items.length;
    },
    daySeries: (name: string, expected: number) => async () => {
      const page = await counterSeries(deps, {
        name,
        interval: 'day',
        limit: 100,
        since: at.spanSince,
        until: at.spanUntil,
      });
      expectCount(`day series of ${name}`, page.items.length, expected);
      return page.items.length;
    },
    listPage: (prefix: string, cursor: string | undefined) => async () => {
      const page = await listCounters(deps, { prefix, limit: at.listLimit, cursor });
      expectCount(`list of ${prefix}`, page.items.length, at.listLimit);
      return page.items.length;
    },
  };
}

type ReadRequests = ReturnType<typeof readRequests>;

/**
 * The reads the issue names, each against its reference on the small data: the same request, the
 * same page size, on the 10-change counter or the 10-counter prefix; then the controls.
 */
function readCases(bench: HistoryBench, plan: DatasetPlan, span: Span, build: BuildResult): ReadCase[] {
  const at = readPoints(plan, span, build);
  const requests = readRequests(bench.deps, at);
  return [...issueCases(plan, at, requests), ...controlCases(plan, at, requests)];
}

function issueCases(plan: DatasetPlan, at: ReadPoints, read: ReadRequests): ReadCase[] {
  return [
    {
      id: 'deep-history-page',
      title: '(a) deep history page',
      kind: 'issue',
      big: {
        request: `history, limit 100, cursor after version ${at.deepAfter} of ${plan.bigChanges}`,
        run: read.historyPage(NAMES.big, at.deepCursor, at.deepAfter + 1, 100),
      },
      reference: referenceFirstPage(plan, read),
    },
    {
      id: 'day-series',
      title: '(b) day series over the whole span',
      kind: 'issue',
      big: {
        request: `series, interval day, ${plan.spanDays} days (${plan.spanDays} buckets)`,
        run: read.daySeries(NAMES.big, plan.spanDays),
      },
      reference: {
        request: `the same on the ${plan.referenceChanges}-change counter (${plan.referenceChanges} buckets)`,
        run: read.daySeries(NAMES.reference, plan.referenceChanges),
      },
    },
    {
      id: 'window-history-page',
      title: '(c) history page with since/until mid-span',
      kind: 'issue',
      big: {
        request: `history, limit 100, since ${at.windowSince} until ${at.windowUntil}`,
        run: read.windowPage(NAMES.big, WINDOW_PAGE_AT_LEAST),
      },
      reference: {
        request: `the same window on the ${plan.referenceChanges}-change counter`,
        run: read.windowPage(NAMES.reference, 1),
      },
    },
    {
      id: 'list-page',
      title: '(d) list page by prefix',
      kind: 'issue',
      big: {
        request: `list, prefix matching ${plan.manyCounters} counters, limit ${at.listLimit}, first page`,
        run: read.listPage(NAMES.manyPrefix, undefined),
      },
      reference: fewList(plan, at, read),
    },
  ];
}

/** Controls: two requests that return as many entries, so they show what depth alone costs. */
function controlCases(plan: DatasetPlan, at: ReadPoints, read: ReadRequests): ReadCase[] {
  const bigFirstPage: ReadSide = {
    request: 'history, limit 100, first page, same counter',
    run: read.historyPage(NAMES.big, undefined, 1, 100),
  };
  const small = plan.referenceChanges;
  return [
    {
      id: 'deep-vs-first-history-page',
      title: 'control: deep page vs first page of the big counter',
      kind: 'control',
      big: {
        request: `history, limit 100, cursor after version ${at.deepAfter}`,
        run: read.historyPage(NAMES.big, at.deepCursor, at.deepAfter + 1, 100),
      },
      reference: bigFirstPage,
    },
    {
      id: 'deep-history-page-same-size',
      title: `control: (a) with limit ${small}, so both return ${small}`,
      kind: 'control',
      big: {
        request: `history, limit ${small}, cursor after version ${at.deepAfter}`,
        run: read.historyPage(NAMES.big, at.deepCursor, at.deepAfter + 1, small, small),
      },
      reference: {
        request: `history, limit ${small}, first page, of the ${small}-change counter`,
        run: read.historyPage(NAMES.reference, undefined, 1, small, small),
      },
    },
    {
      id: 'window-vs-first-history-page',
      title: 'control: since/until page vs first page of the big counter',
      kind: 'control',
      big: {
        request: 'history, limit 100, the mid-span window',
        run: read.windowPage(NAMES.big, WINDOW_PAGE_AT_LEAST),
      },
      reference: bigFirstPage,
    },
    {
      id: 'deep-list-page',
      title: 'control: deep list page among the many',
      kind: 'control',
      big: {
        request: `list, prefix matching ${plan.manyCounters}, limit ${at.listLimit}, cursor after ${at.deepListAfter}`,
        run: read.listPage(NAMES.manyPrefix, encodeCursor({ p: NAMES.manyPrefix, a: at.deepListAfter })),
      },
      reference: fewList(plan, at, read),
    },
  ];
}

function referenceFirstPage(plan: DatasetPlan, read: ReadRequests): ReadSide {
  return {
    request: `history, limit 100, first page, of the ${plan.referenceChanges}-change counter`,
    run: read.historyPage(NAMES.reference, undefined, 1, plan.referenceChanges),
  };
}

function fewList(plan: DatasetPlan, at: ReadPoints, read: ReadRequests): ReadSide {
  return {
    request: `list, prefix matching ${plan.fewCounters} counters, limit ${at.listLimit}, first page`,
    run: read.listPage(NAMES.fewPrefix, undefined),
  };
}

function expectCount(what: string, actual: number, expected: number): void {
  if (actual !== expected) throw new Error(`${what}: ${actual} items, expected ${expected}`);
}

/**
 * Each case runs `warmup` + `reps` rounds; in each round the big and the reference request run one
 * after the other, the order alternating, so both see the same machine. Only the measured rounds
 * are metered, so capacity per call comes from exactly the calls timed.
 */
export async function measureReads(
  bench: HistoryBench,
  plan: DatasetPlan,
  span: Span,
  build: BuildResult,
  options: { warmup: number; reps: number; log: (line: string) => void },
): Promise<ReadResult[]> {
  const results: ReadResult[] = [];
  for (const readCase of readCases(bench, plan, span, build)) {
    options.log(`reads: ${readCase.title}`);
    const sides = ['big', 'reference'] as const;
    const walls = { big: [] as number[], reference: [] as number[] };
    const items = { big: 0, reference: 0 };
    const rounds = options.warmup + options.reps;
    // interleavedOrder rotates the pair each round: big first, then reference first, and so on.
    const order = interleavedOrder(sides, rounds);
    for (const [index, side] of order.entries()) {
      const measured = Math.floor(index / sides.length) >= options.warmup;
      bench.meter.label = measured ? `read: ${readCase.id}: ${side}` : undefined;
      const started = performance.now();
      const returned = await readCase[side].run();
      const wall = performance.now() - started;
      bench.meter.label = undefined;
      if (measured) {
        walls[side].push(wall);
        items[side] = returned;
      }
    }
    const sideResult = (side: (typeof sides)[number]): ReadSideResult => {
      const metered = bench.meter.get(`read: ${readCase.id}: ${side}`);
      return {
        request: readCase[side].request,
        items: items[side],
        wallMs: summarize(walls[side]),
        readUnits: metered.readUnits / options.reps,
        writeUnits: metered.writeUnits / options.reps,
        requests: requestsPerCall(metered.requests, options.reps),
      };
    };
    const big = sideResult('big');
    const reference = sideResult('reference');
    const ratioMedian = ratio(big.wallMs.median, reference.wallMs.median);
    results.push({
      id: readCase.id,
      title: readCase.title,
      kind: readCase.kind,
      big,
      reference,
      ratioMedian,
      ratioP90: ratio(big.wallMs.p90, reference.wallMs.p90),
      pairedRatio: pairedRatio(walls.big, walls.reference),
      verdict: verdict(ratioMedian, READ_TARGET),
    });
  }
  return results;
}
