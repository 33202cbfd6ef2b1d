import type {
  DeleteCommandInput,
  PutCommandInput,
  TransactWriteCommandInput,
  UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import {
  atVersion,
  conditionOf,
  exists,
  nameFree,
  notFenced,
  notSharded,
  ofIncarnation,
  type Rule,
  rules,
  setWithinBounds,
  shardAt,
  withinBounds,
  withinRange,
  withinShare,
} from './change-rules.ts';
import type { ChangeInput } from './repository.ts';
import type { BoundChange, StoredCounter } from './schema.ts';
import {
  BY_NAME_PARTITION_KEY,
  COUNTER_KIND,
  fenceAttribute,
  PROBE,
  ROOM_ABOVE,
  ROOM_BELOW,
  shardKey,
  TAG_ATTEMPT,
  TAG_ID,
} from './table.ts';

/**
 * Every write of the counters table, built in one place from the rules they enforce
 * (change-rules.ts): the repository sends them, alone or in a transaction, and explains a refusal
 * with the same rules.
 */
export type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** A write and the rules its condition enforces, in the order their refusals are reported. */
export interface Guarded<T> {
  request: T;
  rules: Rule[];
}

/** Attributes every change writes besides the value and version. */
const CHANGE_SET =
  '#created = if_not_exists(#created, :now), #updated = :now, #op = :op, #actor = :actor, ' +
  '#incarnation = if_not_exists(#incarnation, :incarnation), #kind = if_not_exists(#kind, :kind)';

const CHANGE_NAMES = {
  '#value': 'value',
  '#version': 'version',
  '#created': 'created_at',
  '#updated': 'updated_at',
  '#op': 'op',
  '#actor': 'actor',
  '#incarnation': 'incarnation',
  '#kind': BY_NAME_PARTITION_KEY,
};

/**
 * A keyed attempt's mark on the item it writes (the stream carries it to keyed-witness.ts) and the
 * fence that refuses the write once a recovery has stopped the attempt.
 */
function tagOf(input: ChangeInput): {
  set: string;
  names: Record<string, string>;
  values: Record<string, unknown>;
  rules: Rule[];
} {
  if (input.attempt === undefined) return { set: '', names: {}, values: {}, rules: [] };
  return {
    set: ', #tag_id = :tag_id, #tag_attempt = :tag_attempt',
    names: { '#tag_id': TAG_ID, '#tag_attempt': TAG_ATTEMPT },
    values: { ':tag_id': input.attempt.id, ':tag_attempt': input.attempt.attempt },
    rules: [notFenced(input.attempt.id, input.attempt.attempt)],
  };
}

/**
 * The UpdateItem of a plain counter: `ADD` for an increment (atomic, whatever else is writing), `SET`
 * for a set; the version grows by one either way and the item records who did what, so the stream
 * carries it to the history. The rooms to the bounds (table.ts ROOM_ABOVE) move with the value.
 * Nothing is read first.
 */
export function plainChange(
  table: string,
  input: ChangeInput &
    ({ op: 'increment'; by: number } | { op: 'set'; value: number; min?: BoundChange; max?: BoundChange }),
): Guarded<UpdateCommandInput> {
  const tag = tagOf(input);
  const guard = rules(
    ...tag.rules,
    notSharded(),
    input.expectedVersion === undefined ? undefined : atVersion(input.name, input.expectedVersion),
    ...(input.op === 'increment'
      ? [withinRange(input.name, input.by), withinBounds(input.name, input.by)]
      : setWithinBounds(input.name, input.value, input)),
  );
  const condition = conditionOf(guard);
  const bounds = input.op === 'set' ? boundsOf(input) : undefined;
  const update =
    input.op === 'increment'
      ? `ADD #value :by, #version :one, #room_above :down, #room_below :by SET ${CHANGE_SET}${tag.set}`
      : `SET #value = :value, #version = if_not_exists(#version, :zero) + :one, ${CHANGE_SET}${tag.set}, ` +
        `${bounds?.set.join(', ')}${bounds?.remove.length ? ` REMOVE ${bounds.remove.join(', ')}` : ''}`;
  return {
    request: {
      TableName: table,
      Key: { name: input.name },
      UpdateExpression: update,
      ConditionExpression: condition.ConditionExpression,
      ExpressionAttributeNames: {
        ...CHANGE_NAMES,
        '#room_above': ROOM_ABOVE,
        '#room_below': ROOM_BELOW,
        ...(input.op === 'set' ? { '#min': 'min', '#max': 'max' } : {}),
        ...tag.names,
        ...condition.ExpressionAttributeNames,
      },
      ExpressionAttributeValues: {
        ':now': input.now,
        ':actor': input.actor,
        ':incarnation': input.newIncarnation,
        ':kind': COUNTER_KIND,
        ':one': 1,
        ':op': input.op,
        ...(input.op === 'increment'
          ? { ':by': input.by, ':down': -input.by }
          : { ':value': input.value, ':zero': 0, ...bounds?.values }),
        ...tag.values,
        ...condition.ExpressionAttributeValues,
      },
      ReturnValues: 'ALL_NEW',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    },
    rules: guard,
  };
}

/**
 * A set's bounds: a number sets the bound, null removes it, absent keeps it; either way the room to
 * each bound is set afresh from the new value (DynamoDB computes it, exactly, from the kept bound).
 */
function boundsOf(input: { value: number; min?: BoundChange; max?: BoundChange }) {
  const set: string[] = [];
  const remove: string[] = [];
  const values: Record<string, number> = {};
  if (typeof input.max === 'number') {
    set.push('#max = :max', '#room_above = :max - :value');
    values[':max'] = input.max;
  } else if (input.max === null) {
    remove.push('#max');
    set.push('#room_above = :zero - :value');
  } else set.push('#room_above = if_not_exists(#max, :zero) - :value');
  if (typeof input.min === 'number') {
    set.push('#min = :min', '#room_below = :value - :min');
    values[':min'] = input.min;
  } else if (input.min === null) {
    remove.push('#min');
    set.push('#room_below = :value - :zero');
  } else set.push('#room_below = :value - if_not_exists(#min, :zero)');
  return { set, remove, values };
}

/** The DeleteItem of a plain counter (a sharded one's shards go with it: shardedDeletion). */
export function plainDeletion(
  table: string,
  input: { name: string; expectedVersion?: number | undefined },
): Guarded<DeleteCommandInput> {
  const guard = rules(
    notSharded(),
    input.expectedVersion === undefined ? undefined : atVersion(input.name, input.expectedVersion),
    exists(input.name),
  );
  return {
    request: {
      TableName: table,
      Key: { name: input.name },
      ...conditionOf(guard),
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    },
    rules: guard,
  };
}

/** Which shards a sharded counter has, and of which incarnation: fixed for the counter's life. */
export interface Layout {
  shards: number;
  incarnation: string;
}

/**
 * An increment of shard `index` of a sharded counter (shard 0 is the counter's own item): an atomic
 * ADD held to the layout and to the shard's share of the range. Given the shards' `versions`
 * (If-Match), it goes in a transaction with a ConditionCheck of every other shard at its version.
 */
export function shardIncrement(
  table: string,
  counter: { name: string; layout: Layout; versions?: readonly number[] | undefined },
  input: ChangeInput & { by: number },
  index: number,
): Guarded<UpdateCommandInput> & { checks: Guarded<TransactItem>[] } {
  const tag = tagOf(input);
  const exact = counter.versions !== undefined;
  const guard = rules(
    ...tag.rules,
    ofIncarnation(counter.layout.incarnation),
    exact ? shardAt(counter.versions?.[index]) : undefined,
    withinShare(input.by, counter.layout.shards),
  );
  const condition = conditionOf(guard);
  // Shard 0 is the counter's own item, changed as a plain counter's is; the others carry only what changes.
  const root = index === 0;
  const set = root ? CHANGE_SET : '#updated = :now, #op = :op, #actor = :actor';
  const names = root
    ? CHANGE_NAMES
    : { '#value': 'value', '#version': 'version', '#updated': 'updated_at', '#op': 'op', '#actor': 'actor' };
  const values = root
    ? { ':incarnation': input.newIncarnation, ':kind': COUNTER_KIND }
    : ({} as Record<string, unknown>);
  const checks = exact
    ? Array.from({ length: counter.layout.shards }, (_, shard) => shard)
        .filter((shard) => shard !== index)
        .map((shard) => {
          const held = rules(ofIncarnation(counter.layout.incarnation), shardAt(counter.versions?.[shard]));
          return {
            request: {
              ConditionCheck: {
                TableName: table,
                Key: { name: shardKey(counter.name, shard) },
                ...conditionOf(held),
              },
            } as TransactItem,
            rules: held,
          };
        })
    : [];
  return {
    request: {
      TableName: table,
      Key: { name: shardKey(counter.name, index) },
      UpdateExpression: `ADD #value :by, #version :one SET ${set}${tag.set}`,
      ConditionExpression: condition.ConditionExpression,
      ExpressionAttributeNames: { ...names, ...tag.names, ...condition.ExpressionAttributeNames },
      ExpressionAttributeValues: {
        ':by': input.by,
        ':one': 1,
        ':now': input.now,
        ':op': 'increment',
        ':actor': input.actor,
        ...values,
        ...tag.values,
        ...condition.ExpressionAttributeValues,
      },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    },
    rules: guard,
    checks,
  };
}

/** Shard 0 of a counter created with `shards` shards: it holds the value it is created with. */
export function shardedRoot(input: ChangeInput & { value: number }, shards: number): StoredCounter {
  return {
    name: input.name,
    value: input.value,
    version: 1,
    created_at: input.now,
    updated_at: input.now,
    incarnation: input.newIncarnation,
    op: 'set',
    actor: input.actor,
    shards,
  };
}

/**
 * The puts that create a sharded counter, in one transaction: its own item, only if no counter holds
 * the name, and shards 1..N-1 at 0, version 0, which are no change of it (the history ignores them).
 */
export function shardedCreation(
  table: string,
  root: StoredCounter,
  expectedVersion: number | undefined,
): { items: TransactItem[]; rules: Rule[] } {
  const guard = rules(
    expectedVersion === undefined ? undefined : atVersion(root.name, expectedVersion),
    nameFree(root.name),
  );
  const put: PutCommandInput = {
    TableName: table,
    Item: { ...root, [BY_NAME_PARTITION_KEY]: COUNTER_KIND },
    ...conditionOf(guard),
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  };
  return {
    items: [
      { Put: put } as TransactItem,
      ...Array.from(
        { length: (root.shards ?? 1) - 1 },
        (_, offset): TransactItem => ({
          Put: {
            TableName: table,
            Item: {
              name: shardKey(root.name, offset + 1),
              counter: root.name,
              shard: offset + 1,
              value: 0,
              version: 0,
              updated_at: root.updated_at,
              incarnation: root.incarnation,
              op: 'increment',
              actor: root.actor,
            },
          },
        }),
      ),
    ],
    rules: guard,
  };
}

/**
 * The deletes of every shard of a sharded counter, in one transaction, each held to the layout and,
 * given the shards' `versions` (If-Match), to the version a snapshot saw.
 */
export function shardedDeletion(
  table: string,
  counter: { name: string; layout: Layout; versions?: readonly number[] | undefined },
): TransactItem[] {
  return Array.from({ length: counter.layout.shards }, (_, shard): TransactItem => {
    const held = rules(
      ofIncarnation(counter.layout.incarnation),
      counter.versions === undefined ? undefined : shardAt(counter.versions[shard]),
    );
    return {
      Delete: { TableName: table, Key: { name: shardKey(counter.name, shard) }, ...conditionOf(held) },
    };
  });
}

/**
 * A recovery's probe of one item (idempotency.ts): fences the attempt off the item, and changes the
 * item (a fresh nonce), so the stream carries the probe after every write made before it. An absent
 * item is created holding only the probe: no counter (it has no version), and invisible to readers.
 */
export function probeUpdate(table: string, item: string, recordId: string, attempt: string, probe: string) {
  return {
    TableName: table,
    Key: { name: item },
    UpdateExpression: 'SET #probe = :probe ADD #fence :attempts',
    ExpressionAttributeNames: { '#probe': PROBE, '#fence': fenceAttribute(recordId) },
    ExpressionAttributeValues: { ':probe': probe, ':attempts': new Set([attempt]) },
  } satisfies UpdateCommandInput;
}
