import {
  AttemptFencedError,
  CounterIsSharded,
  CounterNotFoundError,
  CounterOutOfBoundsError,
  CounterOutOfRangeError,
  describeIncrement,
  LayoutChanged,
  ShardLayoutError,
  ShardShareExceeded,
  shardBound,
  VersionMismatchError,
} from './errors.ts';
import { type BoundChange, MAX_VALUE, MIN_VALUE } from './schema.ts';
import { fenceAttribute, ROOM_ABOVE, ROOM_BELOW } from './table.ts';

/**
 * The rules a change must meet, each written once: as the DynamoDB condition that enforces it in the
 * same write (so the check and the change are one atomic step, never a read first), as a predicate on
 * the item that the in-memory twin enforces and that names the refusal when DynamoDB refuses a write
 * (its ALL_OLD item), and as that refusal.
 */
export interface Rule {
  readonly expression: string;
  readonly names: Readonly<Record<string, string>>;
  readonly values: Readonly<Record<string, unknown>>;
  /** Whether the item (undefined: absent) meets the rule, as DynamoDB evaluates `expression`. */
  holds(item: Item | undefined): boolean;
  refusal(item: Item | undefined): Error;
}

/** A counters-table item as stored: a counter, a shard, or only a recovery's probe. */
export type Item = Readonly<Record<string, unknown>>;

const numberOf = (item: Item | undefined, attribute: string): number | undefined => {
  const value = item?.[attribute];
  return typeof value === 'number' ? value : undefined;
};

/** Every write of a keyed attempt: not fenced off by a recovery of its key (idempotency.ts). */
export function notFenced(recordId: string, attempt: string): Rule {
  const attribute = fenceAttribute(recordId);
  return {
    expression: 'NOT contains(#fence, :attempt)',
    names: { '#fence': attribute },
    values: { ':attempt': attempt },
    holds: (item) => {
      const fence = item?.[attribute];
      return !(fence instanceof Set && fence.has(attempt));
    },
    refusal: () => new AttemptFencedError(),
  };
}

/** The item is not a sharded counter's own: sharded counters take the sharded writes. */
export function notSharded(): Rule {
  return {
    expression: 'attribute_not_exists(#shards)',
    names: { '#shards': 'shards' },
    values: {},
    holds: (item) => item?.shards === undefined,
    refusal: (item) =>
      new CounterIsSharded({ shards: numberOf(item, 'shards') ?? 1, incarnation: String(item?.incarnation) }),
  };
}

/** If-Match: the counter is at this version; version 0 is the counter that does not exist yet. */
export function atVersion(name: string, expected: number): Rule {
  return {
    ...(expected === 0
      ? { expression: 'attribute_not_exists(#version)', values: {} }
      : { expression: '#version = :expected', values: { ':expected': expected } }),
    names: { '#version': 'version' },
    holds: (item) => (numberOf(item, 'version') ?? 0) === expected,
    refusal: (item) => new VersionMismatchError(name, expected, numberOf(item, 'version')),
  };
}

/**
 * The value stays within ±MAX_SAFE_INTEGER after adding `by`. The bound is computed on the side that
 * cannot overflow: MAX - by for by > 0, MIN - by for by < 0. Undefined for 0, which needs no bound.
 */
export function withinRange(name: string, by: number): Rule | undefined {
  if (by === 0) return undefined;
  const bound = by > 0 ? MAX_VALUE - by : MIN_VALUE - by;
  const comparison = by > 0 ? '<=' : '>=';
  return {
    expression: `(attribute_not_exists(#value) OR #value ${comparison} :bound)`,
    names: { '#value': 'value' },
    values: { ':bound': bound },
    holds: (item) => {
      const value = numberOf(item, 'value') ?? 0;
      return by > 0 ? value <= bound : value >= bound;
    },
    refusal: (item) => new CounterOutOfRangeError(name, numberOf(item, 'value') ?? 0, describeIncrement(by)),
  };
}

/**
 * A bounded counter stays within its bounds after adding `by`. DynamoDB conditions cannot add, so the
 * item keeps how far its value is from each bound (ROOM_ABOVE = max - value, ROOM_BELOW = value - min),
 * moved by the same ADD as the value: the condition compares that room with `by`, no read first.
 */
export function withinBounds(name: string, by: number): Rule | undefined {
  if (by === 0) return undefined;
  const side = by > 0 ? 'max' : 'min';
  const room = by > 0 ? ROOM_ABOVE : ROOM_BELOW;
  const needed = Math.abs(by);
  return {
    expression: `(attribute_not_exists(#${side}) OR #${room} >= :room)`,
    names: { [`#${side}`]: side, [`#${room}`]: room },
    values: { ':room': needed },
    holds: (item) => {
      const bound = numberOf(item, side);
      if (bound === undefined) return true;
      const value = numberOf(item, 'value') ?? 0;
      return (side === 'max' ? bound - value : value - bound) >= needed;
    },
    refusal: (item) =>
      new CounterOutOfBoundsError(name, numberOf(item, 'value') ?? 0, describeIncrement(by), {
        side,
        value: numberOf(item, side) ?? 0,
      }),
  };
}

/**
 * A set lands within the bounds it keeps (those it does not give). Bounds it gives are checked against
 * its value before any write (schema.ts setBody), so min <= value <= max holds after it either way.
 */
export function setWithinBounds(
  name: string,
  value: number,
  bounds: { min?: BoundChange; max?: BoundChange },
): Rule[] {
  return (['max', 'min'] as const)
    .filter((side) => bounds[side] === undefined)
    .map((side) => ({
      expression: `(attribute_not_exists(#${side}) OR #${side} ${side === 'max' ? '>=' : '<='} :value)`,
      names: { [`#${side}`]: side },
      values: { ':value': value },
      holds: (item) => {
        const bound = numberOf(item, side);
        return bound === undefined || (side === 'max' ? bound >= value : bound <= value);
      },
      refusal: (item) =>
        new CounterOutOfBoundsError(name, numberOf(item, 'value') ?? 0, `setting ${value}`, {
          side,
          value: numberOf(item, side) ?? 0,
        }),
    }));
}

/** The counter exists (a delete's). */
export function exists(name: string): Rule {
  return {
    expression: 'attribute_exists(#version)',
    names: { '#version': 'version' },
    values: {},
    holds: (item) => numberOf(item, 'version') !== undefined,
    refusal: () => new CounterNotFoundError(name),
  };
}

/** No counter holds the name (a sharded counter's creation). */
export function nameFree(name: string): Rule {
  return {
    expression: 'attribute_not_exists(#version)',
    names: { '#version': 'version' },
    values: {},
    holds: (item) => numberOf(item, 'version') === undefined,
    refusal: (item) => ShardLayoutError.exists(name, numberOf(item, 'shards')),
  };
}

/** A shard of the layout the change was made for (created again with another, it is another counter). */
export function ofIncarnation(incarnation: string): Rule {
  return {
    expression: '#incarnation = :layout',
    names: { '#incarnation': 'incarnation' },
    values: { ':layout': incarnation },
    holds: (item) => item?.incarnation === incarnation,
    refusal: () => new LayoutChanged(),
  };
}

/** A shard at the version a snapshot saw (If-Match on a sharded counter). */
export function shardAt(version: number | undefined): Rule {
  return {
    expression: '#version = :seen',
    names: { '#version': 'version' },
    values: { ':seen': version },
    holds: (item) => numberOf(item, 'version') === version,
    refusal: () => new LayoutChanged(),
  };
}

/** The shard stays within its 1/shards share of the range, so that the shards' sum stays in range. */
export function withinShare(by: number, shards: number): Rule | undefined {
  if (by === 0) return undefined;
  const limit = shardBound(shards);
  const bound = by > 0 ? limit - by : -limit - by;
  const comparison = by > 0 ? '<=' : '>=';
  return {
    expression: `#value ${comparison} :bound`,
    names: { '#value': 'value' },
    values: { ':bound': bound },
    holds: (item) => {
      const value = numberOf(item, 'value') ?? 0;
      return by > 0 ? value <= bound : value >= bound;
    },
    refusal: () => new ShardShareExceeded(),
  };
}

/** The rules of a change, in the order their refusals are reported; absent rules left out. */
export function rules(...list: (Rule | undefined)[]): Rule[] {
  return list.filter((rule): rule is Rule => rule !== undefined);
}

/**
 * The rules as one DynamoDB condition, with the names and values they use; DynamoDB refuses empty
 * maps, so an empty one is left out.
 */
export function conditionOf(list: readonly Rule[]): {
  ConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
} {
  const names: Record<string, string> = Object.assign({}, ...list.map((rule) => rule.names));
  const values: Record<string, unknown> = Object.assign({}, ...list.map((rule) => rule.values));
  return {
    ...(list.length === 0 ? {} : { ConditionExpression: list.map((rule) => rule.expression).join(' AND ') }),
    ...(Object.keys(names).length === 0 ? {} : { ExpressionAttributeNames: names }),
    ...(Object.keys(values).length === 0 ? {} : { ExpressionAttributeValues: values }),
  };
}

/** The first rule the item breaks, as its refusal; undefined when it meets them all. */
export function refusalOf(list: readonly Rule[], item: Item | undefined): Error | undefined {
  return list.find((rule) => !rule.holds(item))?.refusal(item);
}
