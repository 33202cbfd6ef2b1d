import { describe, expect, it } from 'vitest';
import {
  atVersion,
  CounterIsSharded,
  conditionOf,
  exists,
  LayoutChanged,
  nameFree,
  notFenced,
  notSharded,
  ofIncarnation,
  refusalOf,
  rules,
  ShardShareExceeded,
  shardAt,
  withinRange,
  withinShare,
} from '../../functions/counter/change-rules.ts';
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
});
