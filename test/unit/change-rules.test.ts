import { describe, expect, it } from 'vitest';
import {
  atVersion,
  conditionOf,
  exists,
  nameFree,
  notFenced,
  notSharded,
  ofIncarnation,
  refusalOf,
  rules,
  setWithinBounds,
  shardAt,
  withinBounds,
  withinRange,
  withinShare,
} from '../../functions/counter/change-rules.ts';
import { CounterIsSharded, LayoutChanged, ShardShareExceeded } from '../../functions/counter/errors.ts';
import { MAX_VALUE, MIN_VALUE } from '../../functions/counter/schema.ts';

const counter = { name: 'a', value: 5, version: 3, incarnation: 'inc-1' };

describe('the change rules, as DynamoDB conditions and as predicates on the item', () => {
  it.each([
    [
      'notFenced',
      notFenced('r1', 'x'),
      'NOT contains(#fence, :attempt)',
      { ...counter, fence_r1: new Set(['x']) },
      counter,
    ],
    ['notSharded', notSharded(), 'attribute_not_exists(#shards)', { ...counter, shards: 4 }, counter],
    ['atVersion(3)', atVersion('a', 3), '#version = :expected', { ...counter, version: 4 }, counter],
    ['atVersion(0)', atVersion('a', 0), 'attribute_not_exists(#version)', counter, undefined],
    ['exists', exists('a'), 'attribute_exists(#version)', undefined, counter],
    ['nameFree', nameFree('a'), 'attribute_not_exists(#version)', counter, { name: 'a', probe: 'p' }],
    [
      'ofIncarnation',
      ofIncarnation('inc-1'),
      '#incarnation = :layout',
      { ...counter, incarnation: 'inc-2' },
      counter,
    ],
    ['shardAt(3)', shardAt(3), '#version = :seen', { ...counter, version: 2 }, counter],
  ])('%s: condition %s, broken by one item and met by another', (_, rule, expression, broken, met) => {
    expect(rule.expression).toBe(expression);
    expect(rule.holds(broken)).toBe(false);
    expect(rule.holds(met)).toBe(true);
  });

  it('bounds an increment on the side that cannot overflow, and needs no bound for 0', () => {
    const up = withinRange('a', 10);
    const down = withinRange('a', -10);

    expect(up?.values).toEqual({ ':bound': MAX_VALUE - 10 });
    expect(up?.holds({ value: MAX_VALUE - 10 })).toBe(true);
    expect(up?.holds({ value: MAX_VALUE - 9 })).toBe(false);
    expect(up?.holds(undefined)).toBe(true);
    expect(down?.values).toEqual({ ':bound': MIN_VALUE + 10 });
    expect(down?.holds({ value: MIN_VALUE + 9 })).toBe(false);
    expect(withinRange('a', 0)).toBeUndefined();
    expect(withinShare(0, 4)).toBeUndefined();
  });

  it('names each refusal as the domain error the HTTP adapter maps', () => {
    expect(refusalOf([notSharded()], { ...counter, shards: 4 })).toBeInstanceOf(CounterIsSharded);
    expect(refusalOf([atVersion('a', 2)], counter)).toMatchObject({
      name: 'VersionMismatchError',
      expected: 2,
      actual: 3,
    });
    expect(refusalOf([withinRange('a', MAX_VALUE) ?? exists('a')], counter)).toMatchObject({
      name: 'CounterOutOfRangeError',
      current: 5,
    });
    expect(refusalOf([exists('a')], undefined)).toMatchObject({ name: 'CounterNotFoundError' });
    expect(refusalOf([nameFree('a')], { ...counter, shards: 2 })).toMatchObject({ name: 'ShardLayoutError' });
    expect(refusalOf([notFenced('r1', 'x')], { fence_r1: new Set(['x']) })).toMatchObject({
      name: 'AttemptFencedError',
    });
    expect(refusalOf([ofIncarnation('inc-2')], counter)).toBeInstanceOf(LayoutChanged);
    expect(refusalOf([withinShare(1, 4) ?? exists('a')], { value: MAX_VALUE })).toBeInstanceOf(
      ShardShareExceeded,
    );
  });

  it('reports the first rule broken, in the order given, and nothing when all hold', () => {
    const guard = rules(notSharded(), atVersion('a', 9), withinRange('a', MAX_VALUE));

    expect(refusalOf(guard, counter)?.name).toBe('VersionMismatchError');
    expect(refusalOf(guard, { ...counter, version: 9, value: 0 })).toBeUndefined();
  });

  it('joins rules into one condition, leaving out the maps DynamoDB refuses empty', () => {
    expect(conditionOf(rules(notSharded(), atVersion('a', 3)))).toEqual({
      ConditionExpression: 'attribute_not_exists(#shards) AND #version = :expected',
      ExpressionAttributeNames: { '#shards': 'shards', '#version': 'version' },
      ExpressionAttributeValues: { ':expected': 3 },
    });
    expect(conditionOf(rules(notSharded()))).toEqual({
      ConditionExpression: 'attribute_not_exists(#shards)',
      ExpressionAttributeNames: { '#shards': 'shards' },
    });
    expect(conditionOf([])).toEqual({});
  });

  it('keeps a bounded counter within its bounds by the room the item keeps to each, not by arithmetic', () => {
    const up = withinBounds('stock', 3);
    const down = withinBounds('stock', -3);
    const bounded = { value: 5, min: 2, max: 8 };

    expect(up?.expression).toBe('(attribute_not_exists(#max) OR #room_above >= :room)');
    expect(down?.expression).toBe('(attribute_not_exists(#min) OR #room_below >= :room)');
    expect(up?.values).toEqual({ ':room': 3 });
    expect(down?.values).toEqual({ ':room': 3 });
    expect(up?.holds(bounded)).toBe(true);
    expect(up?.holds({ ...bounded, value: 6 })).toBe(false);
    expect(down?.holds(bounded)).toBe(true);
    expect(down?.holds({ ...bounded, value: 4 })).toBe(false);
    expect(up?.holds({ value: 5 })).toBe(true);
    expect(refusalOf([down ?? up ?? exists('x')], { ...bounded, value: 4 })).toMatchObject({
      name: 'CounterOutOfBoundsError',
      message: 'Counter "stock" is 4; subtracting 3 would take it below its min 2, so it was not applied.',
    });
    expect(withinBounds('stock', 0)).toBeUndefined();
  });

  it('checks a set against the bounds it keeps, not those it gives (setBody checks those)', () => {
    const keepsBoth = setWithinBounds('stock', 7, {});
    const givesMin = setWithinBounds('stock', 7, { min: 6 });
    const givesBoth = setWithinBounds('stock', 7, { min: 0, max: null });

    expect(keepsBoth.map((rule) => rule.expression)).toEqual([
      '(attribute_not_exists(#max) OR #max >= :value)',
      '(attribute_not_exists(#min) OR #min <= :value)',
    ]);
    expect(givesMin.map((rule) => rule.expression)).toEqual([
      '(attribute_not_exists(#max) OR #max >= :value)',
    ]);
    expect(givesBoth).toEqual([]);
    expect(refusalOf(givesMin, { value: 1, max: 5 })).toMatchObject({
      name: 'CounterOutOfBoundsError',
      message: 'Counter "stock" is 1; setting 7 would take it above its max 5, so it was not applied.',
      bound: { side: 'max', value: 5 },
    });
  });
});
