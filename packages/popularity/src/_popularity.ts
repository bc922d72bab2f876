import { type Adjacency, markReachable, reverseAdjacency, topologicalOrder } from './_graph.js';
import { compareStrings, packageNameKey } from './_path-key.js';
import { InvalidGraphError, ReferenceCycleError } from './errors.js';

// The popularity contest of nixpkgs' references-by-popularity (closure-graph.py) and of
// flatten-references-graph's `popularity_contest`, computed without expanding the tree.
//
// closure-graph.py counts, for every path k, one per child edge per level of the fully expanded
// reference tree: P(roots)[k] where P(S)[k] = [k in S] + sum over c in S reaching k of (P(children c)[k] + 1).
// Unrolled, that is the number of distinct non-empty prefixes of root-to-k walks:
//   popularity(k) = sum over ancestors m of k (k included) of walks(m),
// where walks(m) is the number of walks from any root to m (1 for a root). The example of the
// source comment (A->B,G; B->C,E; C->D,E; D->F; E->F) gives A1 B2 C3 D4 E5 F9 G2 either way.

/**
 * Node indices (0..n-1) ordered as the popularity contest orders them: most popular first, ties by
 * `package_name` (the path with its hash part moved to the end) ascending.
 */
export function rankByPopularity(n: number, refs: Adjacency, paths: readonly string[]): number[] {
  const users = reverseAdjacency(refs, n);
  const sorted = topologicalOrder(refs, n);
  if ('cycle' in sorted) throw new ReferenceCycleError(paths[sorted.cycle]!);
  // Numbers when every count fits (fast), else bigints (exact): walks past 2^53 go to bigints at once.
  const walks = walkCounts(n, users, sorted.order, Number);
  const fast = walks.every(Number.isSafeInteger) ? popularity(n, users, walks) : undefined;
  const scores = fast?.every(Number.isSafeInteger) ? fast : popularity(n, users, walkCounts(n, users, sorted.order, BigInt));
  const keys = paths.map(packageNameKey);
  const order = Array.from({ length: n }, (_, i) => i);
  return order.sort((a, b) => {
    const sa = scores[a]!;
    const sb = scores[b]!;
    return sa > sb ? -1 : sa < sb ? 1 : compareStrings(keys[a]!, keys[b]!);
  });
}

/** Work units the popularity contest may take (one per number added): some seconds. */
const MAX_WORK = 300_000_000;

/** The cost of one addition: 1 for numbers; for bigints, their 64-bit words, times 4 for the allocation of each sum. */
function costOf(walks: readonly (number | bigint)[]): number {
  let max: number | bigint = 0;
  for (const w of walks) if (w > max) max = w;
  return typeof max === 'bigint' ? 4 * Math.max(1, Math.ceil(max.toString(16).length / 16)) : 1;
}

/** The number of walks from any root to each path (1 for a root), referrers first. */
function walkCounts<T extends number | bigint>(n: number, users: Adjacency, referrersFirst: Int32Array, make: (v: number) => T): T[] {
  const zero = make(0);
  const walks: T[] = new Array<T>(n).fill(zero);
  for (const v of referrersFirst) {
    const from = users.start[v]!;
    const to = users.start[v + 1]!;
    if (from === to) {
      walks[v] = make(1);
      continue;
    }
    let sum = zero as number | bigint;
    for (let e = from; e < to; e++) sum = (sum as number) + (walks[users.targets[e]!]! as number);
    walks[v] = sum as T;
  }
  return walks;
}

/** Popularity of each path: the walks of its ancestors and its own, summed. */
function popularity<T extends number | bigint>(n: number, users: Adjacency, walks: readonly T[]): T[] {
  // Each score adds up the walks of a path's ancestors: n times its ancestors, with additions as
  // slow as the numbers are long. A hostile graph (long chains, walks in the thousands of digits)
  // would take hours, so the work is bounded.
  const cost = costOf(walks);
  let work = 0;
  const marks = new Int32Array(n);
  const stack = new Int32Array(n);
  const scores: T[] = new Array<T>(n);
  for (let k = 0; k < n; k++) {
    const count = markReachable(users, k, marks, k + 1, stack);
    work += (count + 1) * cost;
    if (work > MAX_WORK) {
      throw new InvalidGraphError(
        `graph: ranking ${n} paths by popularity needs more than ${MAX_WORK} steps (their paths are reached by too many routes); use the auto layering (the default), or a layering pipeline without popularity_contest`,
      );
    }
    let sum = walks[k]! as number | bigint;
    for (let i = 0; i < count; i++) sum = (sum as number) + (walks[stack[i]!]! as number);
    scores[k] = sum as T;
  }
  return scores;
}
