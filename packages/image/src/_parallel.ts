import pLimit from 'p-limit';

/**
 * Runs `task` for each item, `concurrency` at a time, and returns the results in order. On the first
 * failure the others are told (through the signal they get) and awaited before it is thrown, so
 * nothing is still writing when the caller cleans up.
 */
export async function forEachParallel<T, R>(items: readonly T[], concurrency: number, signal: AbortSignal | undefined, task: (item: T, index: number, signal: AbortSignal) => Promise<R>): Promise<R[]> {
  const stop = new AbortController();
  const combined = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  const limit = pLimit(concurrency);
  const settled = await Promise.allSettled(
    items.map((item, i) =>
      limit(async () => {
        combined.throwIfAborted();
        return task(item, i, combined);
      }).catch((error: unknown) => {
        stop.abort(error);
        throw error;
      }),
    ),
  );
  // The first failure in time is the cause; the others are mostly its echoes (aborted).
  const failure = stop.signal.aborted ? stop.signal.reason : undefined;
  if (failure !== undefined) throw failure;
  return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
}
