import { type Adjacency, bySizeAscending, type CompiledGraph, reverseAdjacency, toAdjacency } from './_graph.js';

/**
 * A graph as flatten-references-graph's igraph values behave: vertices in a fixed order (global node
 * ids) and its own edges, which need not be all edges of the closure (a merged graph keeps only the
 * edges of its parts, `split_paths` deletes edges into the split paths).
 */
export class LayerGraph {
  readonly ids: Int32Array;
  /** Edges in local vertex positions. */
  readonly refs: Adjacency;
  #local: Map<number, number> | undefined;
  #users: Adjacency | undefined;

  constructor(ids: Int32Array, refs: Adjacency) {
    this.ids = ids;
    this.refs = refs;
  }

  get size(): number {
    return this.ids.length;
  }

  /** Local position of a global node id, or -1. */
  localOf(id: number): number {
    this.#local ??= new Map(Array.from(this.ids, (g, i) => [g, i]));
    return this.#local.get(id) ?? -1;
  }

  /** Direct referrers in local positions. */
  get users(): Adjacency {
    this.#users ??= reverseAdjacency(this.refs, this.size);
    return this.#users;
  }

  successors(local: number): Int32Array {
    return this.refs.targets.subarray(this.refs.start[local]!, this.refs.start[local + 1]!);
  }

  /** The subgraph of the vertices with `keep[i]`, in vertex order, with the edges between them. */
  induced(keep: Uint8Array): LayerGraph {
    const position = new Int32Array(this.size).fill(-1);
    const ids: number[] = [];
    for (let i = 0; i < this.size; i++) {
      if (keep[i]) {
        position[i] = ids.length;
        ids.push(this.ids[i]!);
      }
    }
    const lists: number[][] = [];
    for (let i = 0; i < this.size; i++) {
      if (!keep[i]) continue;
      const list: number[] = [];
      for (const t of this.successors(i)) if (position[t]! >= 0) list.push(position[t]!);
      lists.push(list);
    }
    return new LayerGraph(Int32Array.from(ids), toAdjacency(lists));
  }

  /** This graph without the edges that point at the `targets` positions. */
  withoutEdgesInto(targets: ReadonlySet<number>): LayerGraph {
    const lists = Array.from({ length: this.size }, (_, i) => [...this.successors(i)].filter((t) => !targets.has(t)));
    return new LayerGraph(this.ids, toAdjacency(lists));
  }

  /** The disjoint union (igraph `a + b`): vertices of each part in order, no edges between parts. */
  static union(parts: readonly LayerGraph[]): LayerGraph {
    const ids: number[] = [];
    const lists: number[][] = [];
    for (const part of parts) {
      const offset = ids.length;
      ids.push(...part.ids);
      for (let i = 0; i < part.size; i++) lists.push([...part.successors(i)].map((t) => t + offset));
    }
    return new LayerGraph(Int32Array.from(ids), toAdjacency(lists));
  }

  /**
   * The graph flatten-references-graph starts from: vertices sorted by narSize ascending (stable,
   * so equal sizes keep input order), self-references dropped.
   */
  static fromCompiled(graph: CompiledGraph): LayerGraph {
    const n = graph.paths.length;
    const ids = bySizeAscending(graph);
    const position = new Int32Array(n);
    ids.forEach((id, i) => {
      position[id] = i;
    });
    const lists = Array.from(ids, (id) =>
      Array.from(graph.refs.targets.subarray(graph.refs.start[id]!, graph.refs.start[id + 1]!), (t) => position[t]!),
    );
    return new LayerGraph(ids, toAdjacency(lists));
  }
}

/** Marks (1) the `seeds` and everything reachable from them through `adj`. */
export function reachable(adj: Adjacency, size: number, seeds: Iterable<number>): Uint8Array {
  const marks = new Uint8Array(size);
  const stack: number[] = [];
  for (const s of seeds) {
    if (!marks[s]) {
      marks[s] = 1;
      stack.push(s);
    }
  }
  while (stack.length > 0) {
    const v = stack.pop()!;
    for (let e = adj.start[v]!; e < adj.start[v + 1]!; e++) {
      const t = adj.targets[e]!;
      if (!marks[t]) {
        marks[t] = 1;
        stack.push(t);
      }
    }
  }
  return marks;
}
