import { describe, expect, it } from 'vitest';
import { backoffMs, retryLeftovers } from '../../functions/platform/retry.ts';

describe('backoffMs', () => {
  it('doubles the step from baseMs with each attempt, up to capMs, without jitter', () => {
    // Act
    const steps = [0, 1, 2, 3, 4, 5].map((attempt) =>
      backoffMs(attempt, { baseMs: 50, capMs: 400, jitter: 'none' }),
    );

    // Assess
    expect(steps).toEqual([50, 100, 200, 400, 400, 400]);
  });

  it('pauses anywhere from 0 up to the step with full jitter, the default', () => {
    // Act
    const lowest = backoffMs(3, { baseMs: 10, random: () => 0 });
    const middle = backoffMs(3, { baseMs: 10, random: () => 0.5 });
    const highest = backoffMs(3, { baseMs: 10, random: () => 1 });

    // Assess
    expect([lowest, middle, highest]).toEqual([0, 40, 80]);
  });

  it('pauses at least half the step with equal jitter', () => {
    // Act
    const lowest = backoffMs(1, { baseMs: 200, capMs: 10_000, jitter: 'equal', random: () => 0 });
    const middle = backoffMs(1, { baseMs: 200, capMs: 10_000, jitter: 'equal', random: () => 0.5 });

    // Assess
    expect([lowest, middle]).toEqual([200, 300]);
  });

  it('defaults to 10 ms doubling up to 1 s', () => {
    // Act
    const steps = [0, 6, 7, 20].map((attempt) => backoffMs(attempt, { jitter: 'none' }));

    // Assess
    expect(steps).toEqual([10, 640, 1_000, 1_000]);
  });
});

describe('retryLeftovers', () => {
  it('sends again only what each answer left over, until nothing is left', async () => {
    // Prepare: the first call leaves two, the second one, the third none.
    const sent: number[][] = [];
    const leftovers = [[2, 3], [3], []];

    // Act
    const left = await retryLeftovers(
      [1, 2, 3],
      async (items) => {
        sent.push(items);
        return leftovers[sent.length - 1] ?? [];
      },
      { retries: 8, baseMs: 0 },
    );

    // Assess
    expect(sent).toEqual([[1, 2, 3], [2, 3], [3]]);
    expect(left).toEqual([]);
  });

  it('stops after `retries` tries beyond the first and answers what is still left', async () => {
    // Prepare
    let calls = 0;

    // Act
    const left = await retryLeftovers(
      ['a', 'b'],
      async (items) => {
        calls++;
        return items.slice(1);
      },
      { retries: 0, baseMs: 0 },
    );

    // Assess
    expect(calls).toBe(1);
    expect(left).toEqual(['b']);
  });

  it('sends nothing when there is nothing to send', async () => {
    // Prepare
    let calls = 0;

    // Act
    const left = await retryLeftovers(
      [],
      async () => {
        calls++;
        return [];
      },
      { retries: 8 },
    );

    // Assess
    expect(calls).toBe(0);
    expect(left).toEqual([]);
  });
});
