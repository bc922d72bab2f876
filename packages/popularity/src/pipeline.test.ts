import { describe, expect, it } from 'vitest';
import { PipelineError } from './errors.js';
import type { GraphNode } from './graph-node.js';
import { parsePipeline } from './pipeline.js';
import { type PlanWarning, planLayers } from './plan-layers.js';

// Vectors of nixpkgs' flatten-references-graph unit tests (pipe_test, subcomponent_test,
// split_paths_test, lib_test). Their igraph graphs list vertices in order of first appearance in
// the edge list; equal narSizes in that input order give strata the same vertex order.
function edges(list: [string, string][], detached: string[] = []): GraphNode[] {
  const refs = new Map<string, string[]>();
  for (const [from, to] of list) {
    if (!refs.has(from)) refs.set(from, []);
    if (!refs.has(to)) refs.set(to, []);
    refs.get(from)!.push(to);
  }
  for (const d of detached) refs.set(d, []);
  return [...refs].map(([path, references]) => ({ path, narSize: 1, references }));
}

const pipeGraph = edges([
  ['Root1', 'A'],
  ['A', 'B'],
  ['A', 'C'],
  ['B', 'D'],
  ['B', 'E'],
  ['E', 'F'],
  ['B', 'G'],
  ['Root2', 'B'],
  ['Root3', 'C'],
]);
const subcomponentGraph = edges(
  [
    ['Root1', 'A'],
    ['A', 'B'],
    ['A', 'C'],
    ['B', 'D'],
    ['B', 'E'],
    ['Root2', 'B'],
    ['Root3', 'C'],
  ],
  ['X'],
);
const splitGraph = edges(
  [
    ['Root1', 'A'],
    ['A', 'B'],
    ['A', 'D'],
    ['D', 'E'],
    ['B', 'D'],
    ['B', 'F'],
    ['Root2', 'B'],
    ['Root3', 'C'],
  ],
  ['X'],
);
const plan = (graph: GraphNode[], pipeline: unknown) => planLayers(graph, { pipeline });

describe('planLayers (pipeline)', () => {
  it('runs the split_paths / subcomponent_in / popularity_contest pipeline of pipe_test', () => {
    const pipeline = [
      ['split_paths', ['B']],
      ['over', 'main', ['pipe', [['subcomponent_in', ['B']], ['over', 'rest', ['popularity_contest']]]]],
      ['flatten'],
      ['limit_layers', 5],
    ];
    expect(plan(pipeGraph, pipeline)).toEqual([['B'], ['F'], ['D'], ['E'], ['G', 'Root1', 'A', 'C', 'Root2', 'Root3']]);
    const withMap = [...pipeline.slice(0, 3), ['map', ['remove_paths', 'Root3']], ['limit_layers', 5]];
    expect(plan(pipeGraph, withMap)).toEqual([['B'], ['F'], ['D'], ['E'], ['G', 'Root1', 'A', 'C', 'Root2']]);
  });

  it('limits and reverses popularity lists like pipe_test', () => {
    const graph = edges([['Root1', 'A'], ['A', 'B']], ['Root2']);
    expect(plan(graph, [['popularity_contest']])).toEqual([['B'], ['A'], ['Root1'], ['Root2']]);
    expect(plan(graph, [['popularity_contest'], ['limit_layers', 3]])).toEqual([['B'], ['A'], ['Root1', 'Root2']]);
    expect(plan(graph, [['popularity_contest'], ['reverse'], ['limit_layers', 3]])).toEqual([
      ['Root2'],
      ['Root1'],
      ['A', 'B'],
    ]);
  });

  it('splits by subcomponent like subcomponent_test', () => {
    const g = subcomponentGraph;
    expect(plan(g, [['subcomponent_out', ['B']]])).toEqual([['B', 'D', 'E'], ['Root1', 'A', 'C', 'Root2', 'Root3', 'X']]);
    expect(plan(g, [['subcomponent_out', ['B', 'Root3']]])).toEqual([['B', 'C', 'D', 'E', 'Root3'], ['Root1', 'A', 'Root2', 'X']]);
    expect(plan(g, [['subcomponent_in', ['B']]])).toEqual([['Root1', 'A', 'B', 'Root2'], ['C', 'D', 'E', 'Root3', 'X']]);
    expect(plan(g, [['subcomponent_in', ['B', 'Root3']]])).toEqual([['Root1', 'A', 'B', 'Root2', 'Root3'], ['C', 'D', 'E', 'X']]);
    // An empty "main" is an empty graph in nixpkgs; strata drops the empty layer.
    expect(plan(g, [['subcomponent_out', []]])).toEqual([['Root1', 'A', 'B', 'C', 'D', 'E', 'Root2', 'Root3', 'X']]);
  });

  it('splits paths into main, common and rest like split_paths_test', () => {
    const g = splitGraph;
    expect(plan(g, [['split_paths', ['B']]])).toEqual([['B', 'F'], ['D', 'E'], ['Root1', 'A', 'Root2', 'Root3', 'C', 'X']]);
    expect(plan(g, [['split_paths', ['B', 'Root3']]])).toEqual([['B', 'F', 'Root3', 'C'], ['D', 'E'], ['Root1', 'A', 'Root2', 'X']]);
    expect(plan(g, [['split_paths', ['D']]])).toEqual([['D', 'E'], ['Root1', 'A', 'B', 'F', 'Root2', 'Root3', 'C', 'X']]);
    expect(plan(g, [['split_paths', []]])).toEqual([['Root1', 'A', 'B', 'D', 'E', 'F', 'Root2', 'Root3', 'C', 'X']]);
    expect(plan(g, [['split_paths', [{ children_of: 'Root2' }]]])).toEqual(plan(g, [['split_paths', ['B']]]));
    expect(plan(g, [['split_paths', ['B']], ['over', 'common', ['split_every', 1]]])).toEqual([
      ['B', 'F'],
      ['D'],
      ['E'],
      ['Root1', 'A', 'Root2', 'Root3', 'C', 'X'],
    ]);
  });

  it('returns the whole graph as "main" when the single root is split off', () => {
    const graph = edges([['R', 'A'], ['A', 'B']]);
    expect(plan(graph, [['split_paths', ['R']], ['over', 'main', ['split_every', 2]]])).toEqual([['R', 'A'], ['B']]);
  });

  it('deletes the edges into split paths, as split_paths.py does before taking subgraphs', () => {
    // Inside "main", B no longer references D, so D is a root there: B and D tie at popularity 1.
    const graph = edges([['Root', 'B'], ['B', 'D'], ['Root', 'C']]);
    expect(plan(graph, [['split_paths', ['B', 'D']], ['over', 'main', ['popularity_contest']]])).toEqual([
      ['B'],
      ['D'],
      ['Root', 'C'],
    ]);
    expect(plan(graph, [['subcomponent_out', ['B']], ['over', 'main', ['popularity_contest']]])).toEqual([
      ['D'],
      ['B'],
      ['Root', 'C'],
    ]);
  });

  it('orders the start graph by narSize, stable in input order (lib_test)', () => {
    const graph: GraphNode[] = [
      { path: 'D', narSize: 0, references: ['D'] },
      { path: 'B', narSize: 4, references: ['B'] },
      { path: 'E', narSize: 5, references: ['E'] },
      { path: 'A', narSize: 10, references: ['C', 'B'] },
      { path: 'C', narSize: 6, references: ['C', 'E', 'D'] },
      { path: 'F', narSize: 2, references: ['F'] },
    ];
    expect(plan(graph, [['split_every', 4]])).toEqual([['D', 'F', 'B', 'E'], ['C', 'A']]);
    expect(plan(graph, [['split_every', 100]])).toEqual([['D', 'F', 'B', 'E', 'C', 'A']]);
  });

  it('removes ignored paths and references to them before running the pipeline', () => {
    const graph = edges([['custom', 'app'], ['app', 'lib']]);
    expect(planLayers(graph, { pipeline: [['popularity_contest']], ignore: ['custom'] })).toEqual([['lib'], ['app']]);
  });

  it('does not use algorithm or limit when a pipeline is set', () => {
    expect(planLayers(pipeGraph, { pipeline: [['split_every', 20]], limit: 0, algorithm: 'popularity' })).toEqual([
      ['Root1', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'Root2', 'Root3'],
    ]);
  });

  it('warns about pipeline paths that are not in the graph and otherwise ignores them', () => {
    const warnings: PlanWarning[] = [];
    const layers = planLayers(pipeGraph, {
      pipeline: [['subcomponent_out', ['B', 'nope']], ['over', 'rest', ['remove_paths', ['gone']]]],
      onWarning: (w) => warnings.push(w),
    });
    expect(layers).toEqual([['B', 'D', 'E', 'F', 'G'], ['Root1', 'A', 'C', 'Root2', 'Root3']]);
    expect(warnings.map((w) => [w.code, w.path])).toEqual([
      ['PIPELINE_PATH_NOT_IN_GRAPH', 'nope'],
      ['PIPELINE_PATH_NOT_IN_GRAPH', 'gone'],
    ]);
  });
});

describe('parsePipeline', () => {
  it.each([
    [{ steps: [] }, 'pipeline: expected a list of steps'],
    [[['popularity']], 'pipeline[0]: unknown step "popularity"'],
    [[[42]], 'pipeline[0]: expected a step ["name", ...arguments]'],
    [[['limit_layers', 0]], 'pipeline[0] (limit_layers): count: expected an integer >= 1, got 0'],
    [[['limit_layers', true]], 'pipeline[0] (limit_layers): count: expected an integer >= 1, got true'],
    [[['split_every']], 'pipeline[0] (split_every): expected 1 argument, got 0'],
    [[['flatten', 1]], 'pipeline[0] (flatten): expected 0 arguments, got 1'],
    [[['subcomponent_in', 'B']], 'pipeline[0] (subcomponent_in): paths: expected a list of store paths'],
    [[['split_paths', [{ parents_of: 'B' }]]], 'pipeline[0] (split_paths): paths[0]: expected {"children_of"'],
    [[['over', 'main', ['nope']]], 'pipeline[0][2]: unknown step "nope"'],
    [[['pipe', [['reverse'], ['map']]]], 'pipeline[0][1][1] (map): expected 1 argument, got 0'],
  ])('rejects %j', (pipeline, message) => {
    expect(() => parsePipeline(pipeline)).toThrow(message);
    expect(() => parsePipeline(pipeline)).toThrow(PipelineError);
  });

  it.each([
    [[['over', 'main', ['popularity_contest']]], 'over "main": expected a dict, got a graph of 10 paths'],
    [[['split_paths', ['nope']], ['over', 'main', ['flatten']]], 'over "main": the dict has no key "main" (keys: rest)'],
    [[['popularity_contest'], ['popularity_contest']], 'popularity_contest: expected a graph, got a list of 10'],
    [[['limit_layers', 2]], 'limit_layers: expected a list, got a graph of 10 paths'],
    [[['subcomponent_out', ['B']], ['reverse']], 'reverse: expected a list, got a dict with keys main, rest'],
    [[['subcomponent_out', ['B']], ['flatten'], ['map', ['reverse']]], 'reverse: expected a list, got a graph of 5 paths'],
  ])('fails at run time when %j gets the wrong kind of value', (pipeline, message) => {
    expect(() => plan(pipeGraph, pipeline)).toThrow(message);
  });
});
