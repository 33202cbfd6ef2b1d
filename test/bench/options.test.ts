import { describe, expect, it } from 'vitest';
import { UsageError } from '../../bench/cli.ts';
import { parseOptions as historyOptions } from '../../bench/history-scale.ts';
import { parseOptions as localStoreOptions } from '../../bench/local-store.ts';
import { isFullRun, parseOptions } from '../../bench/options.ts';
import { parseOptions as shardsOptions } from '../../bench/shards.ts';

describe('npm run bench options', () => {
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

  it('takes --flag=value as --flag value, and --out as where the JSON goes', () => {
    // Act
    const options = parseOptions(['--only=keyed', '--out', '/tmp/report.json']);

    // Assess
    expect(options.sections).toEqual(['keyed']);
    expect(options.out).toBe('/tmp/report.json');
    expect(isFullRun(options)).toBe(false);
  });
});

describe('npm run bench:shards options', () => {
  it('publishes a run of the default settings, with or without --read-limit and --minimal', () => {
    // Act
    const readLimited = shardsOptions(['--read-limit', '15', '--minimal']);
    const custom = shardsOptions(['--seconds', '5']);
    const quick = shardsOptions(['--quick']);

    // Assess
    expect(readLimited).toMatchObject({
      publishable: true,
      minimal: true,
      shards: [1, 2, 4, 8, 16],
      limit: { writesPerSecond: 5, burst: 5, readsPerSecond: 15 },
    });
    expect(custom).toMatchObject({ publishable: false, seconds: 5 });
    expect(quick).toMatchObject({ publishable: false, seconds: 3, shards: [1, 4] });
  });

  it('sorts and dedupes --shards, and refuses counts outside 1 to 32', () => {
    // Act
    const options = shardsOptions(['--shards', '8, 2,8,1']);

    // Assess
    expect(options.shards).toEqual([1, 2, 8]);
    expect(() => shardsOptions(['--shards', '1,64'])).toThrow(/from 1 to 32/);
    expect(() => shardsOptions(['--shards', '1,,4'])).toThrow(/--shards needs a whole number/);
  });
});

describe('npm run bench:history options', () => {
  it('sizes the data set by --quick and the size flags, and refuses one too small for a deep page', () => {
    // Act
    const quick = historyOptions(['--quick', '--changes-per-counter', '1']);
    const full = historyOptions([]);

    // Assess
    expect(quick).toMatchObject({
      reps: 20,
      plan: { bigChanges: 10_000, manyCounters: 1_000, changesPerCounter: 1 },
    });
    expect(full).toMatchObject({
      reps: 50,
      plan: { bigChanges: 100_000, manyCounters: 10_000, changesPerCounter: 3 },
    });
    expect(() => historyOptions(['--changes', '999'])).toThrow(/at least 1000/);
  });
});

describe('npm run bench:local-store options', () => {
  it('takes fractions of seconds and rates, whole changes and connections, and smaller defaults with --quick', () => {
    // Act
    const custom = localStoreOptions(['--seconds', '2.5', '--lag-rate', '50', '--connections', '4']);
    const quick = localStoreOptions(['--quick', '--out', '/tmp/store.json']);

    // Assess
    expect(custom).toMatchObject({
      seconds: 2.5,
      lagRate: 50,
      connections: 4,
      changes: 100_000,
      lagSeconds: 30,
    });
    expect(quick).toMatchObject({
      quick: true,
      seconds: 5,
      changes: 20_000,
      lagSeconds: 10,
      out: '/tmp/store.json',
    });
    expect(() => localStoreOptions(['--seconds', '0'])).toThrow(/--seconds must be a positive number/);
    expect(() => localStoreOptions(['--changes', '1.5'])).toThrow(/--changes needs a whole number/);
  });
});
