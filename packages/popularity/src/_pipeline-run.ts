import type { CompiledGraph } from './_graph.js';
import { LayerGraph, reachable } from './_layer-graph.js';
import { rankByPopularity } from './_popularity.js';
import { PipelineError } from './errors.js';
import type { PipelineStep, SplitPathSpec } from './pipeline.js';

// Runs a parsed layering pipeline with the behaviour of nixpkgs' flatten-references-graph
// (pipe.py, lib.py, split_paths.py, subcomponent.py); strata's own code.

/** What a step consumes and produces: a graph, a list, or a dict (key order kept). */
type Value = LayerGraph | Value[] | Map<string, Value>;

/** Runs `steps` on the whole (already exclusion-filtered) graph and returns the layers. */
export function runPipeline(graph: CompiledGraph, steps: readonly PipelineStep[]): string[][] {
  const run = new PipelineRun(graph);
  const result = steps.reduce<Value>((value, step) => run.apply(step, value), LayerGraph.fromCompiled(graph));
  // Empty graphs (an empty "main" of subcomponent_out, ...) would be empty layers: strata drops them.
  return flatten(result)
    .filter((g) => g.size > 0)
    .map((g) => Array.from(g.ids, (id) => graph.paths[id]!));
}

class PipelineRun {
  readonly #graph: CompiledGraph;
  constructor(graph: CompiledGraph) {
    this.#graph = graph;
  }

  apply(step: PipelineStep, value: Value): Value {
    switch (step.step) {
      case 'popularity_contest':
        return this.popularityContest(asGraph(value, step.step));
      case 'flatten':
        return flatten(value);
      case 'reverse':
        return [...asList(value, step.step)].reverse();
      case 'limit_layers':
        return limitLayers(asList(value, step.step), step.count);
      case 'split_every':
        return splitEvery(asGraph(value, step.step), step.count);
      case 'subcomponent_in':
      case 'subcomponent_out':
        return this.subcomponent(asGraph(value, step.step), step.paths, step.step === 'subcomponent_in');
      case 'remove_paths': {
        const g = asGraph(value, step.step);
        const drop = new Set(this.find(g, step.paths));
        return drop.size === 0 ? g : g.induced(Uint8Array.from(g.ids, (_, i) => (drop.has(i) ? 0 : 1)));
      }
      case 'split_paths':
        return this.splitPaths(asGraph(value, step.step), step.paths);
      case 'over':
        return over(value, step.key, (v) => this.apply(step.apply, v));
      case 'map':
        return asList(value, step.step).map((v) => this.apply(step.apply, v));
      case 'pipe':
        return step.steps.reduce<Value>((v, s) => this.apply(s, v), value);
    }
  }

  /** Local positions of the named paths that are vertices of `g` (others are ignored, as nixpkgs does). */
  find(g: LayerGraph, paths: readonly string[]): number[] {
    const out: number[] = [];
    for (const p of paths) {
      const id = this.#graph.index.get(p);
      const local = id === undefined ? -1 : g.localOf(id);
      if (local >= 0) out.push(local);
    }
    return out;
  }

  popularityContest(g: LayerGraph): LayerGraph[] {
    const names = Array.from(g.ids, (id) => this.#graph.paths[id]!);
    const none = { start: new Int32Array(2), targets: new Int32Array(0) };
    return rankByPopularity(g.size, g.refs, names).map((i) => new LayerGraph(Int32Array.of(g.ids[i]!), none));
  }

  subcomponent(g: LayerGraph, paths: readonly string[], incoming: boolean): Value {
    const marks = reachable(incoming ? g.users : g.refs, g.size, this.find(g, paths));
    return new Map<string, Value>([
      ['main', g.induced(marks)],
      ['rest', g.induced(marks.map((m) => 1 - m))],
    ]);
  }

  /** split_paths.py: the paths and what only they reach ("main"), deps shared with the rest ("common"), the rest. */
  splitPaths(g: LayerGraph, specs: readonly SplitPathSpec[]): Value {
    const split = specs.flatMap((spec) =>
      typeof spec === 'string' ? this.find(g, [spec]) : this.find(g, spec.childrenOf).flatMap((v) => [...g.successors(v)]),
    );
    if (split.length === 0) return new Map([['rest', g]]);
    const roots = Array.from(g.ids, (_, i) => i).filter((i) => g.users.start[i] === g.users.start[i + 1]);
    if (roots.length === 1 && split.includes(roots[0]!)) return new Map([['main', g]]);
    const splitOff = reachable(g.refs, g.size, split);
    const cut = g.withoutEdgesInto(new Set(split));
    // A synthetic root stands for all roots when there are several; it is never part of a result.
    // Its edge into a split root is cut like any other edge into a split path.
    const splitSet = new Set(split);
    const restWithCommon = reachable(cut.refs, cut.size, roots.filter((r) => !splitSet.has(r)));
    const part = (test: (off: number, rest: number) => boolean) =>
      cut.induced(Uint8Array.from(splitOff, (off, i) => (test(off, restWithCommon[i]!) ? 1 : 0)));
    const result = new Map<string, Value>();
    const parts: [string, LayerGraph][] = [
      ['main', part((off, rest) => off === 1 && rest === 0)],
      ['common', part((off, rest) => off === 1 && rest === 1)],
      ['rest', part((off, rest) => off === 0 && rest === 1)],
    ];
    for (const [key, graph] of parts) if (graph.size > 0) result.set(key, graph);
    return result;
  }
}

function splitEvery(g: LayerGraph, count: number): LayerGraph[] {
  const out: LayerGraph[] = [];
  for (let from = 0; from < g.size; from += count) {
    out.push(g.induced(Uint8Array.from(g.ids, (_, i) => (i >= from && i < from + count ? 1 : 0))));
  }
  return out;
}

/**
 * The first `count - 1` items, then one graph merging the rest. nixpkgs' reduce without an initial
 * value fails when nothing remains; strata then adds nothing (and never an empty layer).
 */
function limitLayers(items: readonly Value[], count: number): Value[] {
  const head = items.slice(0, count - 1);
  const rest = items.slice(count - 1);
  if (rest.length === 0) return head;
  if (rest.length === 1) return [...head, rest[0]!];
  const graphs = rest.map((v) => asGraph(v, 'limit_layers (merging the remaining items)'));
  return [...head, LayerGraph.union(graphs)];
}

function over(value: Value, key: string, apply: (v: Value) => Value): Value {
  if (!(value instanceof Map)) throw new PipelineError(`over "${key}": expected a dict, got ${kind(value)}`);
  const current = value.get(key);
  if (current === undefined) {
    throw new PipelineError(`over "${key}": the dict has no key "${key}" (keys: ${[...value.keys()].join(', ') || 'none'})`);
  }
  return new Map(value).set(key, apply(current));
}

/** Nested lists and dict values (in key order), depth first, down to the graphs. */
function flatten(value: Value): LayerGraph[] {
  if (value instanceof LayerGraph) return [value];
  const items = value instanceof Map ? [...value.values()] : value;
  return items.flatMap(flatten);
}

function asGraph(value: Value, step: string): LayerGraph {
  if (value instanceof LayerGraph) return value;
  throw new PipelineError(`${step}: expected a graph, got ${kind(value)} (use "over", "map" or "flatten" first)`);
}

function asList(value: Value, step: string): Value[] {
  if (Array.isArray(value)) return value;
  throw new PipelineError(`${step}: expected a list, got ${kind(value)}`);
}

function kind(value: Value): string {
  if (value instanceof LayerGraph) return `a graph of ${value.size} paths`;
  if (value instanceof Map) return `a dict with keys ${[...value.keys()].join(', ') || '(none)'}`;
  return `a list of ${value.length}`;
}
