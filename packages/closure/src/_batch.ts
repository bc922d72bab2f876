/**
 * How many bytes of arguments one nix / nix-store command line may take. Linux refuses an exec
 * whose arguments and environment together pass ARG_MAX (2 MiB by default, less on some systems)
 * with E2BIG; a closure of 30 000 paths is about 3 MB of paths. A quarter of 1 MiB leaves room for
 * any environment and still needs only a dozen commands for such a closure.
 */
export const DEFAULT_MAX_ARG_BYTES = 256 * 1024;

// What one argument costs the kernel: its bytes, the terminating NUL and the argv pointer.
function argumentCost(arg: string): number {
  return Buffer.byteLength(arg) + 1 + 8;
}

/**
 * Splits `items` into runs that fit one command line with the `fixed` arguments under `maxBytes`,
 * keeping their order. An item that is too long alone still gets a run of its own (the command then
 * fails with the kernel's error rather than strata dropping it).
 */
export function batchArguments(items: readonly string[], fixed: readonly string[], maxBytes: number): string[][] {
  const base = fixed.reduce((sum, arg) => sum + argumentCost(arg), 0);
  const batches: string[][] = [];
  let current: string[] = [];
  let size = base;
  for (const item of items) {
    const cost = argumentCost(item);
    if (current.length > 0 && size + cost > maxBytes) {
      batches.push(current);
      current = [];
      size = base;
    }
    current.push(item);
    size += cost;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
