import { afterEach, describe, expect, it, vi } from 'vitest';
import { counterService, tableNames } from '../../functions/counter/wiring.ts';
import { MissingEnvironmentError } from '../../functions/platform/env.ts';

// The stack gives a function only the names of the tables it may touch (lib/routes.ts).
describe('the wiring', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('builds a service given only the counters table, and fails naming a missing table where it is used', () => {
    vi.stubEnv('COUNTERS_TABLE', 'counters-table');
    vi.stubEnv('HISTORY_TABLE', '');
    vi.stubEnv('ROLLUPS_TABLE', '');

    expect(() => counterService()).not.toThrow();
    const names = tableNames();
    expect(names.counters).toBe('counters-table');
    expect(() => names.history).toThrow(MissingEnvironmentError);
    expect(() => names.rollups).toThrow('environment variable ROLLUPS_TABLE is not set');
  });

  it('reads each name once, when first used', () => {
    vi.stubEnv('COUNTERS_TABLE', 'first');
    const names = tableNames();
    expect(names.counters).toBe('first');
    vi.stubEnv('COUNTERS_TABLE', 'second');
    expect(names.counters).toBe('first');
  });
});
