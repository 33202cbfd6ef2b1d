import { describe, expect, it } from 'vitest';
import { consumedOf, tablesOf } from '../../bench/capacity-proxy.ts';

describe('the capacity proxy', () => {
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
});
