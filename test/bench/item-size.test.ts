import { describe, expect, it } from 'vitest';
import { itemSize, numberSize, storedBytes } from '../../bench/item-size.ts';

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
