import { describe, expect, it } from 'vitest';
import { CommandLine, UsageError } from '../../bench/cli.ts';

const USAGE = 'usage: bench [--quick] [--seconds S] [--sizes LIST]';
const OPTIONS = {
  quick: { type: 'boolean' },
  seconds: { type: 'string' },
  sizes: { type: 'string' },
} as const;

describe("the benchmarks' command line", () => {
  it('reads flags, whole numbers and lists, and leaves absent ones undefined', () => {
    // Act
    const line = new CommandLine(['--quick', '--seconds=12', '--sizes', '1, 4'], OPTIONS, USAGE);
    const empty = new CommandLine([], OPTIONS, USAGE);

    // Assess
    expect(line.has('quick')).toBe(true);
    expect(line.wholeNumber('seconds')).toBe(12);
    expect(line.wholeNumbers('sizes')).toEqual([1, 4]);
    expect(empty.has('quick')).toBe(false);
    expect(empty.wholeNumber('seconds')).toBeUndefined();
    expect(empty.list('sizes')).toBeUndefined();
  });

  it('refuses unknown flags, stray arguments, missing values and numbers that are not whole, with the usage', () => {
    // Act
    const attempts = [['--sekonds', '3'], ['3'], ['--seconds'], ['--seconds', '0'], ['--seconds', '2.5']].map(
      (argv) => () => new CommandLine(argv, OPTIONS, USAGE).wholeNumber('seconds'),
    );

    // Assess
    for (const attempt of attempts) expect(attempt).toThrow(UsageError);
    expect(attempts[3]).toThrow(/--seconds needs a whole number\n\nusage: bench/);
  });
});
