import type { ShardChange } from '../../functions/counter/history.ts';
import type { StreamChange } from '../../functions/counter/history-recorder.ts';
import type { StoredShard } from '../../functions/counter/schema.ts';
import { counterItem } from './counter-items.ts';

// A sharded counter "hot" (3 shards) and its changes, as the stream carries them and as the consumer
// numbers them: shared by the tests of toHistoryAction and numberChanges (history.test.ts), of
// recordHistory (history-recorder.test.ts) and of the history store's sequencer
// (dynamodb-history-store.test.ts).

export const ACTOR = 'arn:aws:iam::000000000000:user/tester';
export const KEY = 'hot#inc-hot';
export const T0 = '2025-01-01T00:00:00.000Z';

/** The stream image of a sharded counter's own item (shard 0). */
export function rootImage(overrides: Parameters<typeof counterItem>[0] = {}) {
  return counterItem({
    name: 'hot',
    value: 10,
    version: 1,
    created_at: T0,
    updated_at: T0,
    incarnation: 'inc-hot',
    op: 'set',
    shards: 3,
    ...overrides,
  });
}

/** The stream image of shard `shard` (1..N-1) of "hot". */
export function shardImage(shard: number, overrides: Partial<StoredShard> = {}): StoredShard {
  return {
    name: `hot#${shard}`,
    counter: 'hot',
    shard,
    value: 0,
    version: 0,
    updated_at: T0,
    incarnation: 'inc-hot',
    op: 'increment',
    actor: ACTOR,
    ...overrides,
  };
}

/** `second` seconds after T0. */
export function at(second: number): string {
  return new Date(Date.parse(T0) + second * 1000).toISOString();
}

/** A change of one shard, numbered by its shard alone; shard 0's first is the counter's creation. */
export function shardChange(shard: number, shardVersion: number, delta: number, second = 0): ShardChange {
  return {
    shard,
    shardVersion,
    delta,
    op: shard === 0 && shardVersion === 1 ? 'set' : 'increment',
    created_at: at(second),
    actor: ACTOR,
  };
}

/**
 * A 3-shard counter's stream, as the consumer receives it: created at 10 (shards 1 and 2 at 0, which
 * are no change), then +2 on shard 1, +5 on shard 0, -1 on shard 2, +4 on shard 1. Its history is
 * versions 1..5 with values 10, 12, 17, 16, 20.
 */
export function shardedBatch(): StreamChange[] {
  const root1 = rootImage();
  const root2 = rootImage({ value: 15, version: 2, op: 'increment', updated_at: at(2) });
  const one0 = shardImage(1);
  const one1 = shardImage(1, { value: 2, version: 1, updated_at: at(1) });
  const one2 = shardImage(1, { value: 6, version: 2, updated_at: at(4) });
  const two0 = shardImage(2);
  const two1 = shardImage(2, { value: -1, version: 1, updated_at: at(3) });
  return [
    { id: '01', newImage: root1 },
    { id: '02', newImage: one0 },
    { id: '03', newImage: two0 },
    { id: '04', oldImage: one0, newImage: one1 },
    { id: '05', oldImage: root1, newImage: root2 },
    { id: '06', oldImage: two0, newImage: two1 },
    { id: '07', oldImage: one1, newImage: one2 },
  ];
}

export const EXACT_HISTORY = [
  [1, 10, 10, 'set'],
  [2, 12, 2, 'increment'],
  [3, 17, 5, 'increment'],
  [4, 16, -1, 'increment'],
  [5, 20, 4, 'increment'],
];
