import { describe, expect, it } from 'vitest';
import { negativesAsPositionals } from '../../bin/cli/arguments.ts';

// bin/cli/arguments.ts: the CLI's argument helpers (the commands themselves: counter-cli.test.ts).
describe('negativesAsPositionals', () => {
  it('moves negative numbers after --, leaving option values where they are', () => {
    expect(negativesAsPositionals(['inc', 'a', '-5', '--json'])).toEqual(['inc', 'a', '--json', '--', '-5']);
    expect(negativesAsPositionals(['set', 'a', '--if-match', '3', '-1'])).toEqual([
      'set',
      'a',
      '--if-match',
      '3',
      '--',
      '-1',
    ]);
    expect(negativesAsPositionals(['inc', 'a', '7'])).toEqual(['inc', 'a', '7']);
  });
});
