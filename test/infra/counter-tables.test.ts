import { describe, expect, it } from 'vitest';
import { ROLLUPS_TABLE } from '../../functions/counter/table.ts';
import { synthStack } from './synth.ts';
import { at, logicalIdOf } from './template-helpers.ts';

// lib/constructs/counter-tables.ts in the counter stack, template only. (The counters, history and
// idempotency tables as deployed: counter-stack.test.ts.)

describe('the rollups table', () => {
  it('keeps series rollups in their own on-demand, retained table keyed by series and bucket start, never expiring', () => {
    const { stack, template } = synthStack();
    const rollups = at(template.toJSON(), 'Resources', logicalIdOf(stack.tables.rollups));

    expect(at(rollups, 'DeletionPolicy')).toBe('Retain');
    expect(at(rollups, 'Properties', 'BillingMode')).toBe('PAY_PER_REQUEST');
    expect(at(rollups, 'Properties', 'KeySchema')).toEqual([
      { AttributeName: ROLLUPS_TABLE.partitionKey.name, KeyType: 'HASH' },
      { AttributeName: ROLLUPS_TABLE.sortKey?.name, KeyType: 'RANGE' },
    ]);
    expect(at(rollups, 'Properties', 'TimeToLiveSpecification')).toBeUndefined();
  });
});
