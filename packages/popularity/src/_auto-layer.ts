import { bySizeAscending, type CompiledGraph, markReachable } from './_graph.js';
import { comparePathKeys, compareStrings, pathSortKey } from './_path-key.js';

// A port of the behaviour of nixpkgs' pkgs/build-support/docker/auto-layer.py (strata's own code).
// Each path carries a layer id: the set of "primary" paths whose layer it belongs to. Sets are
// interned, so a path holds one integer and the number of layers is the number of live set ids.

/** Interned sets of primary node ids, with how many paths currently carry each set. */
class LayerIds {
  readonly members: Int32Array[] = [new Int32Array(0)];
  readonly uses: number[] = [0];
  live = 0;
  readonly #byKey = new Map<string, number>([['', 0]]);

  intern(members: Int32Array): number {
    const key = members.join(',');
    let id = this.#byKey.get(key);
    if (id === undefined) {
      id = this.members.length;
      this.#byKey.set(key, id);
      this.members.push(members);
      this.uses.push(0);
    }
    return id;
  }

  use(id: number, delta: 1 | -1): void {
    const before = this.uses[id]!;
    this.uses[id] = before + delta;
    if (before === 0) this.live++;
    else if (before + delta === 0) this.live--;
  }
}

/** Scratch state of one run: stamps mark membership of the current primary's deps and users. */
interface Scratch {
  readonly layerOf: Int32Array;
  readonly ids: LayerIds;
  readonly depMark: Int32Array;
  readonly userMark: Int32Array;
  readonly deps: Int32Array;
  readonly users: Int32Array;
  readonly journal: number[];
}

/**
 * Splits the graph into at most `limit` layers exactly as auto-layer.py does, then orders the
 * layers by closure size and drops `ignore`d paths. Returns layers of store paths.
 */
export function autoLayer(graph: CompiledGraph, ignore: ReadonlySet<string>, limit: number): string[][] {
  const n = graph.paths.length;
  if (n === 0) return [];
  const layerOf = splitIntoLayers(graph, limit);
  return orderLayers(graph, layerOf)
    .map((layer) => layer.filter((p) => !ignore.has(p)))
    .filter((layer) => layer.length > 0);
}

function splitIntoLayers(graph: CompiledGraph, limit: number): Int32Array {
  const n = graph.paths.length;
  const s: Scratch = {
    layerOf: new Int32Array(n),
    ids: new LayerIds(),
    depMark: new Int32Array(n),
    userMark: new Int32Array(n),
    deps: new Int32Array(n),
    users: new Int32Array(n),
    journal: [],
  };
  for (let i = 0; i < n; i++) s.ids.use(0, 1);
  // Once popped, a primary P keeps the id {P}: a later primary Q that depends on P only removes
  // Q's users from it, and P cannot be one of them (that would be a cycle). So when the loop cannot
  // exceed the limit it ends with one layer per path: skip the quadratic walk.
  if (limit >= n) return Int32Array.from({ length: n }, (_, i) => s.ids.intern(Int32Array.of(i)));
  // Python pops the largest of a stable ascending sort: equal sizes, the later input first.
  const order = bySizeAscending(graph);
  for (let k = n - 1; k >= 0; k--) {
    addPrimary(graph, s, order[k]!, n - k);
    if (s.ids.live > limit) {
      revert(s);
      break;
    }
  }
  return s.layerOf;
}

function assign(s: Scratch, node: number, id: number): void {
  const old = s.layerOf[node]!;
  if (old === id) return;
  s.journal.push(node, old);
  s.ids.use(old, -1);
  s.ids.use(id, 1);
  s.layerOf[node] = id;
}

function revert(s: Scratch): void {
  for (let j = s.journal.length - 2; j >= 0; j -= 2) {
    const node = s.journal[j]!;
    const old = s.journal[j + 1]!;
    s.ids.use(s.layerOf[node]!, -1);
    s.ids.use(old, 1);
    s.layerOf[node] = old;
  }
}

/** One iteration of auto-layer.py's main loop, recording every change in the journal. */
function addPrimary(graph: CompiledGraph, s: Scratch, primary: number, stamp: number): void {
  s.journal.length = 0;
  const depCount = markReachable(graph.refs, primary, s.depMark, stamp, s.deps);
  markReachable(graph.users, primary, s.userMark, stamp, s.users);
  assign(s, primary, s.ids.intern(Int32Array.of(primary)));
  // The new id of a dependency depends only on its old id: compute it once per distinct id.
  const memo = new Map<number, number>();
  for (let i = 0; i < depCount; i++) {
    const dep = s.deps[i]!;
    const old = s.layerOf[dep]!;
    let next = memo.get(old);
    if (next === undefined) {
      next = s.ids.intern(updatedId(s.ids.members[old]!, s, primary, stamp));
      memo.set(old, next);
    }
    assign(s, dep, next);
  }
}

/** `(id - users*(P))`, plus P unless what remains contains a dependency of P; kept sorted. */
function updatedId(members: Int32Array, s: Scratch, primary: number, stamp: number): Int32Array {
  const kept = members.filter((m) => s.userMark[m] !== stamp);
  if (kept.some((m) => s.depMark[m] === stamp)) return kept;
  const out = new Int32Array(kept.length + 1);
  out.set(kept);
  out[kept.length] = primary;
  return out.sort();
}

interface LayerInfo {
  readonly paths: string[];
  readonly closureSize: number;
  readonly closureCount: number;
}

/**
 * Groups nodes by layer id, sorts each layer's paths by (name, hash) and the layers by closure size
 * ascending. nixpkgs leaves the order of equal closure sizes to Python's set iteration (random);
 * strata orders them by closure path count, then by their sorted path lists, so a layer whose
 * closure contains another's (zero-size paths) still comes after it, and the result is stable.
 */
function orderLayers(graph: CompiledGraph, layerOf: Int32Array): string[][] {
  const groups = new Map<number, number[]>();
  layerOf.forEach((id, node) => {
    const group = groups.get(id);
    if (group) group.push(node);
    else groups.set(id, [node]);
  });
  const marks = new Int32Array(graph.paths.length);
  const stack = new Int32Array(graph.paths.length);
  let stamp = 0;
  const layers: LayerInfo[] = [];
  for (const nodes of groups.values()) {
    stamp++;
    let closureSize = 0;
    let closureCount = 0;
    for (const node of nodes) {
      if (marks[node] !== stamp) {
        marks[node] = stamp;
        closureSize += graph.narSize[node]!;
        closureCount++;
      }
      const count = markReachable(graph.refs, node, marks, stamp, stack);
      for (let i = 0; i < count; i++) closureSize += graph.narSize[stack[i]!]!;
      closureCount += count;
    }
    const keyed = nodes.map((node) => ({ path: graph.paths[node]!, key: pathSortKey(graph.paths[node]!) }));
    const paths = keyed.sort((a, b) => compareStrings(a.key, b.key)).map((k) => k.path);
    layers.push({ paths, closureSize, closureCount });
  }
  layers.sort(compareLayers);
  return layers.map((l) => l.paths);
}

function compareLayers(a: LayerInfo, b: LayerInfo): number {
  if (a.closureSize !== b.closureSize) return a.closureSize - b.closureSize;
  if (a.closureCount !== b.closureCount) return a.closureCount - b.closureCount;
  const length = Math.min(a.paths.length, b.paths.length);
  for (let i = 0; i < length; i++) {
    const c = comparePathKeys(a.paths[i]!, b.paths[i]!);
    if (c !== 0) return c;
  }
  return a.paths.length - b.paths.length;
}
