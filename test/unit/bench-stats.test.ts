import { describe, expect, it } from 'vitest';
import { packageOf } from '../../bench/bundling.ts';
import { consumedOf, tablesOf } from '../../bench/capacity-proxy.ts';
import { UsageError } from '../../bench/cli.ts';
import {
  ACCESS_LOG_BYTES,
  billedMilliseconds,
  dynamodbPerMillion,
  lambdaDurationPerMillion,
  logsPerMillion,
  priceByBatch,
  typicalAccessLogLine,
  xrayPerMillionIncrements,
  xrayTracedShare,
} from '../../bench/cost.ts';
import { itemSize, numberSize, storedBytes } from '../../bench/item-size.ts';
import { isFullRun, parseOptions } from '../../bench/options.ts';
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
import { barChart } from '../../bench/svg.ts';
import { ACCESS_LOG_FIELDS } from '../../lib/constructs/counter-api.ts';

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

describe('benchmark cost arithmetic', () => {
  it('prices a change between its two measured ends, as a + b / changes per batch', () => {
    // Act: $4.70 alone, $2.60 in a full batch of 100.
    const points = priceByBatch(4.7, 2.6, 100, [1, 2, 10, 100]);

    // Assess: the ends exactly; b = 2.1 / 0.99, so two changes save half of it.
    expect(points.map((point) => point.changes)).toEqual([1, 2, 10, 100]);
    expect(points[0]?.dollars).toBeCloseTo(4.7, 10);
    expect(points[3]?.dollars).toBeCloseTo(2.6, 10);
    expect(points[1]?.dollars).toBeCloseTo(2.6 + (2.1 * 0.49) / 0.99, 10);
    expect(points[2]?.dollars).toBeCloseTo(2.6 + (2.1 * 0.09) / 0.99, 10);
  });

  it('bills Lambda in whole milliseconds, at least one', () => {
    // Act
    const billed = [billedMilliseconds(0.2), billedMilliseconds(4.01), billedMilliseconds(7)];

    // Assess
    expect(billed).toEqual([1, 5, 7]);
  });

  it('prices a million 256 MB arm64 invocations of 10 ms at 2,500 GB-s', () => {
    // Act
    const dollars = lambdaDurationPerMillion(10);

    // Assess: 1e6 x 0.25 GB x 0.01 s x $0.0000133334
    expect(dollars).toBeCloseTo(0.0333335, 6);
  });

  it('prices the log bytes of a million operations at the CloudWatch Logs ingestion price', () => {
    // Act
    const dollars = logsPerMillion(1024);

    // Assess: 1e6 KiB = 0.9537 GiB at $0.50
    expect(dollars).toBeCloseTo((1e6 / 1024 ** 2) * 0.5, 9);
  });

  it('prices the access log line the stack writes, with a value for every field a success has', () => {
    // Act
    const line: unknown = JSON.parse(typicalAccessLogLine());

    // Assess: the stack's fields, in its order; only the error fields absent ("-") on a success.
    expect(Object.keys(line as object)).toEqual(Object.keys(ACCESS_LOG_FIELDS));
    const absent = Object.entries(line as Record<string, string>).filter(([, value]) => value === '-');
    expect(absent.map(([field]) => field)).toEqual([
      'integrationErrorMessage',
      'errorMessage',
      'authorizerError',
    ]);
    expect(ACCESS_LOG_BYTES).toBe(Buffer.byteLength(typicalAccessLogLine()) + 1);
  });

  it('records every invocation up to one a second, then one plus 5% of the rest, as X-Ray samples by default', () => {
    // Act
    const shares = [0.2, 1, 11, 101].map(xrayTracedShare);

    // Assess
    expect(shares[0]).toBe(1);
    expect(shares[1]).toBe(1);
    expect(shares[2]).toBeCloseTo((1 + 0.5) / 11, 12);
    expect(shares[3]).toBeCloseTo((1 + 5) / 101, 12);
  });

  it('prices X-Ray per million increments: two traces each when quiet, towards 5% of one when busy', () => {
    // Act
    const quiet = xrayPerMillionIncrements(0.5);
    const ten = xrayPerMillionIncrements(10);
    const busy = xrayPerMillionIncrements(1_000_000);

    // Assess: $5 a million traces; the consumer's batches come at most four times a second.
    expect(quiet).toBeCloseTo(10, 9);
    expect(ten).toBeCloseTo(5 * ((1 + 0.05 * 9) / 10 + (4 / 10) * ((1 + 0.05 * 3) / 4)), 9);
    expect(busy).toBeCloseTo(0.25, 3);
  });

  it('prices DynamoDB request units per million', () => {
    // Act
    const dollars = dynamodbPerMillion(2, 1);

    // Assess: 2 x $0.125 + 1 x $0.625
    expect(dollars).toBeCloseTo(0.875, 9);
  });
});

describe('benchmark item sizes', () => {
  it('counts names, UTF-8 strings and about one byte per two significant digits of a number', () => {
    // Prepare
    const item = { name: { S: 'é' }, value: { N: '12345' }, ok: { BOOL: true } };

    // Act
    const size = itemSize(item);

    // Assess: name(4) + 2, value(5) + 3 + 1, ok(2) + 1
    expect(size).toBe(4 + 2 + 5 + 4 + 2 + 1);
    // '-0.00120' keeps two significant digits: one byte for them, plus one.
    expect(numberSize('-0.00120')).toBe(2);
  });

  it('adds an index entry of keys and overhead for a keys-only index that holds the item', () => {
    // Prepare
    const item = { name: { S: 'a' }, kind: { S: 'counter' }, value: { N: '1' } };
    const layout = {
      KeySchema: [{ AttributeName: 'name' }],
      GlobalSecondaryIndexes: [
        {
          KeySchema: [{ AttributeName: 'kind' }, { AttributeName: 'name' }],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
      ],
    };

    // Act
    const bytes = storedBytes(item, layout);
    const withoutIndexKey = storedBytes({ name: { S: 'a' } }, layout);

    // Assess
    expect(bytes).toBe(itemSize(item) + 100 + itemSize({ name: { S: 'a' }, kind: { S: 'counter' } }) + 100);
    expect(withoutIndexKey).toBe(itemSize({ name: { S: 'a' } }) + 100);
  });
});

describe('benchmark plumbing', () => {
  it('names the package an esbuild input comes from, the innermost node_modules winning', () => {
    // Act
    const names = [
      packageOf('node_modules/zod/v4/classic/schemas.js'),
      packageOf('node_modules/@aws-sdk/core/dist-es/index.js'),
      packageOf('node_modules/a/node_modules/@smithy/core/x.js'),
      packageOf('functions/http/increment-counter.ts'),
    ];

    // Assess
    expect(names).toEqual(['zod', '@aws-sdk/core', '@smithy/core', 'project']);
  });

  it('reads the tables and consumed capacity of single, batch and transactional requests', () => {
    // Prepare
    const transaction = {
      TransactItems: [{ Update: { TableName: 'counters' } }, { Put: { TableName: 'idempotency' } }],
    };

    // Act
    const tables = [
      tablesOf({ TableName: 'counters' }),
      tablesOf({ RequestItems: { history: [] } }),
      tablesOf(transaction),
    ];
    const consumed = [
      consumedOf({ TableName: 'counters', CapacityUnits: 1 }),
      consumedOf([
        { TableName: 'a', CapacityUnits: 2 },
        { TableName: 'b', CapacityUnits: 0.5 },
      ]),
      consumedOf(undefined),
    ];

    // Assess
    expect(tables).toEqual([['counters'], ['history'], ['counters', 'idempotency']]);
    expect(consumed).toEqual([
      [{ table: 'counters', units: 1 }],
      [
        { table: 'a', units: 2 },
        { table: 'b', units: 0.5 },
      ],
      [],
    ]);
  });

  it('parses --only and --quick, and only a full run replaces the published figures', () => {
    // Act
    const quick = parseOptions(['--only', 'init,bundles', '--quick']);
    const full = parseOptions([]);

    // Assess
    expect(quick.sections).toEqual(['bundles', 'init']);
    expect(quick.initRuns).toBeLessThan(full.initRuns);
    expect(isFullRun(quick)).toBe(false);
    expect(isFullRun(full)).toBe(true);
    expect(() => parseOptions(['--only', 'everything'])).toThrow(UsageError);
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
