import { describe, expect, it } from 'vitest';
import { forEachParallel } from './_parallel.js';

describe('forEachParallel', () => {
  it('starts the heaviest items first and returns results in item order', async () => {
    const started: string[] = [];
    const items = ['a', 'b', 'c', 'd', 'e'];
    const weights: Record<string, number> = { a: 1, b: 30, c: 0, d: 30, e: 7 };
    const results = await forEachParallel(
      items,
      2,
      undefined,
      async (item, i) => {
        started.push(item);
        await new Promise((resolve) => setTimeout(resolve, 5));
        return `${item}${i}`;
      },
      (item) => weights[item]!,
    );
    // Equal weights keep their order.
    expect(started).toEqual(['b', 'd', 'e', 'a', 'c']);
    expect(results).toEqual(['a0', 'b1', 'c2', 'd3', 'e4']);
  });

  it('starts in item order without weights', async () => {
    const started: number[] = [];
    await forEachParallel([0, 1, 2, 3], 1, undefined, async (item) => {
      started.push(item);
    });
    expect(started).toEqual([0, 1, 2, 3]);
  });

  it('stops the others on the first failure, waits for them, and throws it', async () => {
    let running = 0;
    let aborted = 0;
    const failure = new Error('layer 2 broke');
    const run = forEachParallel([0, 1, 2, 3, 4], 3, undefined, async (item, _i, signal) => {
      running++;
      try {
        if (item === 2) throw failure;
        await new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
        aborted++;
      } finally {
        running--;
      }
    });
    await expect(run).rejects.toBe(failure);
    // Nothing runs once it has thrown; every task that was waiting saw the abort.
    expect(running).toBe(0);
    expect(aborted).toBeGreaterThanOrEqual(2);
  });
});
