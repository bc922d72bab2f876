import pLimit from 'p-limit';

/**
 * Runs `task` for each item, `concurrency` at a time, and returns the results in order. Items start
 * heaviest first by `weight` (in order among equals), so a long task does not start last and run
 * alone at the end. On the first failure the others are told (through the signal they get) and
 * awaited before it is thrown, so nothing is still writing when the caller cleans up.
 */
export async function forEachParallel<T, R>(
  items: readonly T[],
  concurrency: number,
  signal: AbortSignal | undefined,
  task: (item: T, index: number, signal: AbortSignal) => Promise<R>,
  weight: (item: T) => number = () => 0,
): Promise<R[]> {
  const stop = new AbortController();
  const combined = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  const limit = pLimit(concurrency);
  const weights = items.map(weight);
  const order = items.map((_, i) => i).sort((a, b) => weights[b]! - weights[a]! || a - b);
  const runs: Promise<R>[] = [];
  for (const i of order) {
    runs[i] = limit(async () => {
      combined.throwIfAborted();
      return task(items[i]!, i, combined);
    }).catch((error: unknown) => {
      stop.abort(error);
      throw error;
    });
  }
  const settled = await Promise.allSettled(runs);
  // The first failure in time is the cause; the others are mostly its echoes (aborted).
  const failure = stop.signal.aborted ? stop.signal.reason : undefined;
  if (failure !== undefined) throw failure;
  return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
}
