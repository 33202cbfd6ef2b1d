import { describe, expect, it } from 'vitest';
import { changeEventOf, changeEventsOf, toEventEntry } from '../../functions/counter/change-events.ts';
import type { RecordedChange } from '../../functions/counter/history-recorder.ts';

const ACTOR = 'arn:aws:iam::111111111111:user/alice';
const NOW = () => '2026-11-30T12:00:09.000Z';

function changed(entry: Partial<Extract<RecordedChange, { kind: 'changed' }>['entry']> = {}): RecordedChange {
  return {
    kind: 'changed',
    index: 0,
    key: 'shop.stock#inc-7',
    entry: {
      version: 4,
      value: 1005,
      delta: 10,
      op: 'increment',
      created_at: '2026-11-30T12:00:00.123Z',
      actor: ACTOR,
      ...entry,
    },
  };
}

describe('changeEventOf', () => {
  it('makes a Counter Changed event of a history entry, with the value before the change', () => {
    // Act
    const event = changeEventOf(changed(), NOW);

    // Assess
    expect(event).toEqual({
      detailType: 'Counter Changed',
      time: '2026-11-30T12:00:00.123Z',
      detail: {
        name: 'shop.stock',
        incarnation: 'inc-7',
        version: 4,
        value: 1005,
        previous_value: 995,
        delta: 10,
        op: 'increment',
        actor: ACTOR,
        created_at: '2026-11-30T12:00:00.123Z',
      },
    });
  });

  it('gives a set the value before it as previous_value, and carries the bounds the counter has after it', () => {
    // Act
    const event = changeEventOf(changed({ op: 'set', value: 3, delta: -47, min: 0, max: 100 }), NOW);

    // Assess
    expect(event.detail).toMatchObject({
      op: 'set',
      value: 3,
      previous_value: 50,
      delta: -47,
      min: 0,
      max: 100,
    });
  });

  it('gives a counter’s first change previous_value 0', () => {
    // Act
    const event = changeEventOf(changed({ version: 1, value: 7, delta: 7, op: 'set' }), NOW);

    // Assess
    expect(event.detail).toMatchObject({ version: 1, value: 7, previous_value: 0 });
  });

  it('makes a Counter Deleted event, identified by name and incarnation, at the stream’s time', () => {
    // Act
    const event = changeEventOf(
      { kind: 'deleted', index: 3, key: 'shop.stock#inc-7', at: '2026-11-30T12:00:05.000Z' },
      NOW,
    );

    // Assess
    expect(event).toEqual({
      detailType: 'Counter Deleted',
      time: '2026-11-30T12:00:05.000Z',
      detail: {
        name: 'shop.stock',
        incarnation: 'inc-7',
        op: 'delete',
        created_at: '2026-11-30T12:00:05.000Z',
      },
    });
  });

  it('dates a deletion the stream gave no time now', () => {
    // Act
    const event = changeEventOf({ kind: 'deleted', index: 0, key: 'a#inc-1', at: undefined }, NOW);

    // Assess
    expect(event.time).toBe('2026-11-30T12:00:09.000Z');
  });

  it('tells two incarnations of a name apart: the same version of each is a different event', () => {
    // Act
    const [old, reborn] = changeEventsOf(
      [
        { ...changed({ version: 1, value: 1, delta: 1 }), key: 'a#inc-1' },
        { ...changed({ version: 1, value: 1, delta: 1 }), key: 'a#inc-2' },
      ],
      NOW,
    );

    // Assess
    expect(old?.detail).toMatchObject({ name: 'a', incarnation: 'inc-1', version: 1 });
    expect(reborn?.detail).toMatchObject({ name: 'a', incarnation: 'inc-2', version: 1 });
  });
});

describe('toEventEntry', () => {
  it('is the PutEvents entry: source counter-service, the detail as JSON, the bus, the change’s time', () => {
    // Act
    const entry = toEventEntry(
      changeEventOf(changed(), NOW),
      'arn:aws:events:eu-west-1:111111111111:event-bus/default',
    );

    // Assess
    expect(entry).toEqual({
      Source: 'counter-service',
      DetailType: 'Counter Changed',
      Detail: expect.any(String),
      EventBusName: 'arn:aws:events:eu-west-1:111111111111:event-bus/default',
      Time: '2026-11-30T12:00:00.123Z',
    });
    expect(JSON.parse(entry.Detail)).toMatchObject({ name: 'shop.stock', previous_value: 995, value: 1005 });
  });
});
