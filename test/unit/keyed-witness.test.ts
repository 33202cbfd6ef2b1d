import { describe, expect, it } from 'vitest';
import { type WitnessStore, witness, witnessEventOf } from '../../functions/counter/keyed-witness.ts';
import { counterItem } from '../support/counter-items.ts';

const tagged = (attempt: string, overrides = {}) => ({
  ...counterItem({ value: 2, version: 2, ...overrides }),
  tag_id: 'r1',
  tag_attempt: attempt,
});

describe('witnessEventOf', () => {
  it('sees a keyed attempt write a plain counter, with the counter right after it', () => {
    const event = witnessEventOf(counterItem({ value: 1, version: 1 }), tagged('x'));

    expect(event).toMatchObject({
      kind: 'written',
      id: 'r1',
      attempt: 'x',
      counter: { value: 2, version: 2 },
    });
    expect(event?.kind === 'written' ? event.counter : undefined).not.toHaveProperty('tag_id');
  });

  it('sees no counter answer in a sharded counter’s item: one item is not the counter', () => {
    const event = witnessEventOf(undefined, tagged('x', { shards: 4 }));

    expect(event).toMatchObject({ kind: 'written', id: 'r1', attempt: 'x', counter: undefined });
  });

  it('sees nothing in a plain write after a keyed one: the item keeps the old tag', () => {
    expect(witnessEventOf(tagged('x'), tagged('x', { value: 3, version: 3 }))).toBeUndefined();
  });

  it('sees a probe, naming the record, the fenced attempt and the item', () => {
    const event = witnessEventOf(counterItem(), { ...counterItem(), probe: 'r1 gone n1' });

    expect(event).toEqual({ kind: 'probe', id: 'r1', attempt: 'gone', item: 'a' });
  });

  it('sees a probe of an absent item, which the probe creates', () => {
    expect(witnessEventOf(undefined, { name: 'a#2', probe: 'r1 gone n1' })).toMatchObject({ item: 'a#2' });
  });

  it('sees nothing in a deletion or in a record without tags or probes', () => {
    expect(witnessEventOf(tagged('x'), undefined)).toBeUndefined();
    expect(witnessEventOf(undefined, counterItem())).toBeUndefined();
  });
});

describe('witness', () => {
  function store(failOn?: string) {
    const calls: string[] = [];
    const memory: WitnessStore = {
      witnessed: async (id, attempt) => {
        if (attempt === failOn) throw new Error('socket hang up');
        calls.push(`witnessed ${id} ${attempt}`);
      },
      probed: async (id, attempt, item) => {
        calls.push(`probed ${id} ${attempt} ${item}`);
      },
    };
    return { memory, calls };
  }

  it("applies one record's events in stream order: the write before the probe that followed it", async () => {
    const { memory, calls } = store();

    const outcome = await witness(memory, [
      { newImage: tagged('x') },
      { oldImage: tagged('x'), newImage: { ...tagged('x'), probe: 'r1 x n1' } },
    ]);

    expect(outcome).toEqual({});
    expect(calls).toEqual(['witnessed r1 x', 'probed r1 x a']);
  });

  it('writes nothing for a batch without keyed changes', async () => {
    const { memory, calls } = store();

    const quiet = await witness(memory, [{ newImage: counterItem() }, { oldImage: counterItem() }]);

    expect(calls).toEqual([]);
    expect(quiet).toEqual({});
  });

  it('names the first change whose event failed, so the batch is delivered again from there', async () => {
    const { memory } = store('x');

    const outcome = await witness(memory, [{ newImage: counterItem() }, { newImage: tagged('x') }]);

    expect(outcome.failedIndex).toBe(1);
    expect(outcome.error).toBeInstanceOf(Error);
  });
});
