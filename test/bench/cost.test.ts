import { describe, expect, it } from 'vitest';
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
import { ACCESS_LOG_FIELDS } from '../../lib/constructs/counter-api.ts';

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
