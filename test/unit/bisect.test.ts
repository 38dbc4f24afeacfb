import { describe, expect, it } from 'vitest';
import { bisect, BisectExhaustedError, bisectBudget } from '../../src/reconcile/bisect.js';

class Blocked extends Error {}

/** Attempts that fail while they hold a blocked item, recording every attempt. */
function attempts(blocked: ReadonlySet<number>): {
  attempt: (piece: readonly number[]) => Promise<void>;
  done: number[];
  tried: number[][];
} {
  const done: number[] = [];
  const tried: number[][] = [];
  return {
    done,
    tried,
    attempt: async (piece) => {
      tried.push([...piece]);
      if (piece.some((i) => blocked.has(i))) throw new Blocked('blocked');
      done.push(...piece);
    },
  };
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('bisect', () => {
  it('isolates the blocked items and does every other one exactly once, in order', async () => {
    const run = attempts(new Set([3, 17]));
    const isolated: number[] = [];
    await bisect(range(40), run.attempt, {
      retryable: (e) => e instanceof Blocked,
      isolated: (i) => isolated.push(i),
      maxFailures: bisectBudget(40),
    });
    expect(isolated).toEqual([3, 17]);
    expect(run.done).toEqual(range(40).filter((i) => i !== 3 && i !== 17));
    expect(run.tried[0]).toEqual(range(40)); // the whole batch first
  });

  it('no failure: one attempt', async () => {
    const run = attempts(new Set());
    await bisect(range(10), run.attempt, {
      retryable: () => true,
      isolated: () => undefined,
      maxFailures: 1,
    });
    expect(run.tried).toEqual([range(10)]);
  });

  it('any other error ends it at once', async () => {
    const attempt = async (): Promise<void> => {
      throw new Error('other');
    };
    await expect(
      bisect(range(8), attempt, {
        retryable: (e) => e instanceof Blocked,
        isolated: () => undefined,
        maxFailures: 9,
      }),
    ).rejects.toThrow('other');
  });

  it('a cause no halving avoids (every attempt fails) gives up within the budget', async () => {
    const run = attempts(new Set(range(5000)));
    const budget = bisectBudget(5000);
    const error = await bisect(range(5000), run.attempt, {
      retryable: (e) => e instanceof Blocked,
      isolated: () => undefined,
      maxFailures: budget,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BisectExhaustedError);
    expect(run.tried).toHaveLength(budget + 1);
    expect(budget).toBe(56);
  });

  it('many blocked items, some pieces through: past the budget the rest is left out, not failed', async () => {
    // Eight blocked items spread over 5000 (the review of #9: eight locked predecessors in one batch).
    const blocked = new Set([100, 700, 1300, 1900, 2500, 3100, 3700, 4300]);
    const run = attempts(blocked);
    const isolated: number[] = [];
    const rest: number[] = [];
    await bisect(range(5000), run.attempt, {
      retryable: (e) => e instanceof Blocked,
      isolated: (i) => isolated.push(i),
      exhausted: (items) => rest.push(...items),
      maxFailures: bisectBudget(5000),
    });
    expect(run.tried.length).toBeLessThanOrEqual(bisectBudget(5000) + 1 + run.done.length);
    // Every item is done, isolated or left out, exactly once; every blocked one is not done.
    expect([...run.done, ...isolated, ...rest].sort((a, b) => a - b)).toEqual(range(5000));
    expect(run.done.filter((i) => blocked.has(i))).toEqual([]);
    expect(rest.length).toBeGreaterThan(0);
    expect(run.done.length).toBeGreaterThan(0);
  });

  it('a cause every attempt meets still fails with exhausted given, unless told to leave out', async () => {
    const failing = attempts(new Set(range(64)));
    const options = {
      retryable: (e: unknown) => e instanceof Blocked,
      isolated: () => undefined,
      maxFailures: 5,
    };
    const rest: number[] = [];
    await expect(
      bisect(range(64), failing.attempt, { ...options, exhausted: (r) => rest.push(...r) }),
    ).rejects.toBeInstanceOf(BisectExhaustedError);
    rest.length = 0;
    const isolated: number[] = [];
    await bisect(range(64), attempts(new Set(range(64))).attempt, {
      ...options,
      isolated: (i: number) => isolated.push(i),
      exhausted: (r) => rest.push(...r),
      exhaustedWithoutSuccess: true,
    });
    expect([...isolated, ...rest].sort((a, b) => a - b)).toEqual(range(64));
    expect(rest.length).toBeGreaterThan(0);
  });
});
