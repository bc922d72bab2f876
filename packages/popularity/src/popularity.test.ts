import { describe, expect, it } from 'vitest';
import { helloGraph, randomGraph } from '../test/graphs.js';
import { compareStrings, packageNameKey } from './_path-key.js';
import type { GraphNode } from './graph-node.js';
import { planLayers } from './plan-layers.js';

const bare = (spec: Record<string, string[]>): GraphNode[] =>
  Object.entries(spec).map(([path, references]) => ({ path, narSize: 1, references }));
const order = (graph: GraphNode[]) => planLayers(graph, { algorithm: 'popularity', limit: 1000 }).map((l) => l[0]);

/**
 * closure-graph.py's contest written out plainly: expand the reference tree from the roots,
 * memoise the popularity map of every node's children, add 1 per child and per level.
 */
function referencePopularity(graph: readonly GraphNode[]): string[] {
  const children = new Map(graph.map((n) => [n.path, [...new Set(n.references)].filter((r) => r !== n.path)]));
  const referenced = new Set(graph.flatMap((n) => children.get(n.path)!));
  const roots = graph.map((n) => n.path).filter((p) => !referenced.has(p));
  const cache = new Map<string, Map<string, bigint>>();
  const contest = (siblings: readonly string[]): Map<string, bigint> => {
    const result = new Map<string, bigint>();
    for (const c of siblings) {
      result.set(c, (result.get(c) ?? 0n) + 1n);
      if (!cache.has(c)) cache.set(c, contest(children.get(c)!));
      for (const [k, v] of cache.get(c)!) result.set(k, (result.get(k) ?? 0n) + v + 1n);
    }
    return result;
  };
  const scores = contest(roots);
  return [...scores.keys()].sort((a, b) => {
    const d = scores.get(b)! - scores.get(a)!;
    return d > 0n ? 1 : d < 0n ? -1 : compareStrings(packageNameKey(a), packageNameKey(b));
  });
}

describe('planLayers (popularity)', () => {
  it('ranks the example of closure-graph.py: F E D C B G A', () => {
    const graph = bare({ A: ['B', 'G'], B: ['C', 'E'], C: ['D', 'E'], D: ['F'], E: ['F'], F: [], G: [] });
    expect(order(graph)).toEqual(['F', 'E', 'D', 'C', 'B', 'G', 'A']);
    expect(referencePopularity(graph)).toEqual(['F', 'E', 'D', 'C', 'B', 'G', 'A']);
  });

  it("ranks closure-graph.py's unit-test vectors", () => {
    // graph_popularity_contest: foo 1, bar 2, baz 4, tux 6 (with self references).
    const chain = bare({
      '/nix/store/foo': ['/nix/store/foo', '/nix/store/bar', '/nix/store/baz'],
      '/nix/store/bar': ['/nix/store/bar', '/nix/store/baz'],
      '/nix/store/baz': ['/nix/store/baz', '/nix/store/tux'],
      '/nix/store/tux': ['/nix/store/tux'],
    });
    expect(order(chain)).toEqual(['/nix/store/tux', '/nix/store/baz', '/nix/store/bar', '/nix/store/foo']);
    // order_by_popularity: foo 1, bar 1, baz 2, tux 2 gives baz tux bar foo.
    const pairs = bare({
      '/nix/store/foo': ['/nix/store/baz'],
      '/nix/store/bar': ['/nix/store/tux'],
      '/nix/store/baz': [],
      '/nix/store/tux': [],
    });
    expect(order(pairs)).toEqual(['/nix/store/baz', '/nix/store/tux', '/nix/store/bar', '/nix/store/foo']);
  });

  it("limits layers like flatten-references-graph's pipe tests", () => {
    const graph = bare({ Root1: ['A'], A: ['B'], B: [], Root2: [] });
    expect(planLayers(graph, { algorithm: 'popularity' })).toEqual([['B'], ['A'], ['Root1'], ['Root2']]);
    expect(planLayers(graph, { algorithm: 'popularity', limit: 3 })).toEqual([['B'], ['A'], ['Root1', 'Root2']]);
    expect(planLayers(graph, { algorithm: 'popularity', limit: 4 })).toEqual([['B'], ['A'], ['Root1'], ['Root2']]);
    expect(planLayers(graph, { algorithm: 'popularity', limit: 1 })).toEqual([['B', 'A', 'Root1', 'Root2']]);
  });

  it('ranks the reference hello graph with the excluded roots removed first (nixpkgs 2025)', () => {
    const { graph, p, ignore } = helloGraph();
    expect(planLayers(graph, { algorithm: 'popularity', ignore })).toEqual(
      ['libunistring', 'libgcc', 'libidn2', 'glibc', 'hello'].map((n) => [p(n)]),
    );
    expect(planLayers(graph, { algorithm: 'popularity', ignore, limit: 3 })).toEqual([
      [p('libunistring')],
      [p('libgcc')],
      [p('libidn2'), p('glibc'), p('hello')],
    ]);
  });

  it('breaks popularity ties by the name with the hash part moved to the end', () => {
    const graph = bare({
      '/nix/store/zzz-b': [],
      '/nix/store/aaa-b': [],
      '/nix/store/mmm-a-2': [],
      '/nix/store/nnn-a': [],
    });
    expect(order(graph)).toEqual(['/nix/store/nnn-a', '/nix/store/mmm-a-2', '/nix/store/aaa-b', '/nix/store/zzz-b']);
  });

  it('stays exact when walk counts exceed 2^53 (a ladder of 70 diamonds)', () => {
    const spec: Record<string, string[]> = {};
    for (let i = 0; i < 70; i++) {
      spec[`/nix/store/x${i}-top`] = [`/nix/store/l${i}-left`, `/nix/store/r${i}-right`];
      spec[`/nix/store/l${i}-left`] = [`/nix/store/x${i + 1}-top`];
      spec[`/nix/store/r${i}-right`] = [`/nix/store/x${i + 1}-top`, `/nix/store/s${i}-side`];
      spec[`/nix/store/s${i}-side`] = [];
    }
    spec['/nix/store/x70-top'] = [];
    const graph = bare(spec);
    expect(order(graph)).toEqual(referencePopularity(graph));
    expect(order(graph)[0]).toBe('/nix/store/x70-top');
  });

  it('matches the plain contest on 300 random graphs', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const graph = randomGraph(seed, 1 + (seed % 45));
      expect(order(graph), `seed ${seed}`).toEqual(referencePopularity(graph));
    }
  });

  it('puts every path in exactly one layer, within the limit, deterministically', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const graph = randomGraph(seed, 1 + (seed % 50));
      const limit = 1 + (seed % 11);
      const layers = planLayers(graph, { algorithm: 'popularity', limit });
      expect(layers.length).toBeLessThanOrEqual(limit);
      expect(layers.every((l) => l.length > 0)).toBe(true);
      expect(layers.flat().sort()).toEqual(graph.map((n) => n.path).sort());
      expect(planLayers(graph, { algorithm: 'popularity', limit })).toEqual(layers);
    }
  });
});
