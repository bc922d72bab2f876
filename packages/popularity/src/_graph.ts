import type { GraphNode } from './graph-node.js';
import {
  DuplicatePathError,
  InvalidGraphError,
  ReferenceCycleError,
  UnknownReferenceError,
} from './errors.js';

/** Compressed adjacency: the neighbours of node `i` are `targets[start[i] .. start[i + 1])`. */
export interface Adjacency {
  readonly start: Int32Array;
  readonly targets: Int32Array;
}

/** A validated reference graph with integer node ids in input order; self-references are dropped. */
export interface CompiledGraph {
  readonly paths: readonly string[];
  readonly narSize: Float64Array;
  readonly index: ReadonlyMap<string, number>;
  /** References of each node, without itself, without duplicates. */
  readonly refs: Adjacency;
  /** Direct referrers of each node (the reverse of `refs`). */
  readonly users: Adjacency;
  /** The `exclude`d paths that were nodes of the input (and were dropped). */
  readonly excluded: ReadonlySet<string>;
}

/**
 * Validates and indexes a graph. Nodes whose path is in `exclude` are dropped together with every
 * reference to them (flatten-references-graph's `exclude_paths`); any other reference must be a node.
 */
export function compileGraph(graph: Iterable<GraphNode>, exclude: ReadonlySet<string> = new Set()): CompiledGraph {
  const nodes: GraphNode[] = [];
  const index = new Map<string, number>();
  const excluded = new Set<string>();
  let position = 0;
  for (const node of graph) {
    checkNode(node, position);
    if (index.has(node.path) || excluded.has(node.path)) throw new DuplicatePathError(node.path, position);
    if (exclude.has(node.path)) excluded.add(node.path);
    else {
      index.set(node.path, nodes.length);
      nodes.push(node);
    }
    position++;
  }
  const seenRef = new Int32Array(nodes.length).fill(-1);
  const lists = nodes.map((node, i) => resolveReferences(node, i, index, exclude, seenRef));
  const refs = toAdjacency(lists);
  const users = reverseAdjacency(refs, nodes.length);
  assertAcyclic(refs, nodes);
  const narSize = Float64Array.from(nodes, (n) => n.narSize);
  return { paths: nodes.map((n) => n.path), narSize, index, refs, users, excluded };
}

/** Node ids by ascending narSize, equal sizes in input order (Python's stable `sorted`). */
export function bySizeAscending(graph: CompiledGraph): Int32Array {
  const size = graph.narSize;
  return Int32Array.from(graph.paths, (_, i) => i).sort((a, b) => size[a]! - size[b]! || a - b);
}

function checkNode(node: GraphNode, i: number): void {
  if (typeof node !== 'object' || node === null) throw new InvalidGraphError(`graph[${i}]: expected an object`);
  if (typeof node.path !== 'string' || node.path === '') {
    throw new InvalidGraphError(`graph[${i}].path: expected a non-empty string`);
  }
  if (typeof node.narSize !== 'number' || !Number.isFinite(node.narSize) || node.narSize < 0) {
    throw new InvalidGraphError(`graph[${i}].narSize: expected a non-negative number (${node.path})`);
  }
  if (!Array.isArray(node.references) || node.references.some((r) => typeof r !== 'string')) {
    throw new InvalidGraphError(`graph[${i}].references: expected an array of strings (${node.path})`);
  }
}

function resolveReferences(
  node: GraphNode,
  self: number,
  index: ReadonlyMap<string, number>,
  exclude: ReadonlySet<string>,
  seen: Int32Array,
): number[] {
  // `seen[t] === self` marks a target already listed for this node (references may repeat).
  const out: number[] = [];
  for (const ref of node.references) {
    const target = index.get(ref);
    if (target === undefined) {
      if (exclude.has(ref)) continue;
      throw new UnknownReferenceError(node.path, ref);
    }
    if (target !== self && seen[target] !== self) {
      seen[target] = self;
      out.push(target);
    }
  }
  return out;
}

/** Builds compressed adjacency from per-node lists. */
export function toAdjacency(lists: readonly (readonly number[])[]): Adjacency {
  const start = new Int32Array(lists.length + 1);
  for (let i = 0; i < lists.length; i++) start[i + 1] = start[i]! + lists[i]!.length;
  const targets = new Int32Array(start[lists.length]!);
  lists.forEach((list, i) => {
    targets.set(list, start[i]!);
  });
  return { start, targets };
}

/** The reverse of an adjacency over `n` nodes (sources listed in ascending order). */
export function reverseAdjacency(adj: Adjacency, n: number): Adjacency {
  const start = new Int32Array(n + 1);
  for (const t of adj.targets) start[t + 1]!++;
  for (let i = 0; i < n; i++) start[i + 1] = start[i + 1]! + start[i]!;
  const fill = start.slice(0, n);
  const targets = new Int32Array(adj.targets.length);
  for (let s = 0; s < n; s++) {
    for (let e = adj.start[s]!; e < adj.start[s + 1]!; e++) targets[fill[adj.targets[e]!]!++] = s;
  }
  return { start, targets };
}

/**
 * Nodes in an order where every node comes after all nodes that reference it (referrers first),
 * or the index of a node on a cycle as `{ cycle }`.
 */
export function topologicalOrder(refs: Adjacency, n: number): { order: Int32Array } | { cycle: number } {
  const indegree = new Int32Array(n);
  for (const t of refs.targets) indegree[t]!++;
  const order = new Int32Array(n);
  let head = 0;
  let tail = 0;
  for (let i = 0; i < n; i++) if (indegree[i] === 0) order[tail++] = i;
  while (head < tail) {
    const v = order[head++]!;
    for (let e = refs.start[v]!; e < refs.start[v + 1]!; e++) {
      const t = refs.targets[e]!;
      if (--indegree[t]! === 0) order[tail++] = t;
    }
  }
  if (tail === n) return { order };
  return { cycle: indegree.findIndex((d) => d > 0) };
}

function assertAcyclic(refs: Adjacency, nodes: readonly GraphNode[]): void {
  const result = topologicalOrder(refs, nodes.length);
  if ('cycle' in result) throw new ReferenceCycleError(nodes[result.cycle]!.path);
}

/**
 * Marks every node reachable from `from` through `adj` (not `from` itself unless on a cycle) with
 * `stamp` in `marks`, pushing each onto `out`; returns how many were pushed.
 */
export function markReachable(adj: Adjacency, from: number, marks: Int32Array, stamp: number, out: Int32Array): number {
  let count = 0;
  let top = 0;
  const stack = out;
  // `out` doubles as the DFS stack: entries below `count` are final, the walk reads them in order.
  for (let e = adj.start[from]!; e < adj.start[from + 1]!; e++) {
    const t = adj.targets[e]!;
    if (marks[t] !== stamp) {
      marks[t] = stamp;
      stack[count++] = t;
    }
  }
  while (top < count) {
    const v = stack[top++]!;
    for (let e = adj.start[v]!; e < adj.start[v + 1]!; e++) {
      const t = adj.targets[e]!;
      if (marks[t] !== stamp) {
        marks[t] = stamp;
        stack[count++] = t;
      }
    }
  }
  return count;
}
