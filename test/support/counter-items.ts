import type { StoredCounterItem } from '../../functions/counter/schema.ts';

/** A counter item as the counters table holds it: the stored counter plus the index's `kind`. */
export function counterItem(
  overrides: Partial<StoredCounterItem> = {},
): StoredCounterItem & { kind: string } {
  return {
    name: 'a',
    value: 1,
    version: 1,
    created_at: '2025-01-01T00:00:00.000Z',
    updated_at: '2025-01-01T00:00:00.000Z',
    incarnation: 'inc-1',
    op: 'increment',
    actor: 'arn:aws:iam::000000000000:user/tester',
    kind: 'counter',
    ...overrides,
  };
}
