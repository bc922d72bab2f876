import { describe, expect, it } from 'vitest';
import { nodes } from '../test/graphs.js';
import {
  DuplicatePathError,
  InvalidGraphError,
  InvalidOptionError,
  LayerBudgetError,
  PopularityError,
  ReferenceCycleError,
  UnknownReferenceError,
} from './errors.js';
import type { GraphNode } from './graph-node.js';
import { storeLayerBudget } from './layer-budget.js';
import { type PlanWarning, planLayers } from './plan-layers.js';

const { graph, p } = nodes({ app: [10, ['lib', 'app']], lib: [100, []] });

describe('planLayers options', () => {
  it('defaults to auto-layer with a limit of 100', () => {
    expect(planLayers(graph)).toEqual([[p('lib')], [p('app')]]);
    expect(planLayers(new Set(graph))).toEqual(planLayers(graph, { algorithm: 'auto', limit: 100 }));
  });

  it.each([
    [{ algorithm: 'size' }, 'algorithm: expected "auto" or "popularity", got "size"'],
    [{ limit: 0 }, 'limit: expected an integer >= 1, got 0'],
    [{ limit: -3 }, 'limit: expected an integer >= 1, got -3'],
    [{ limit: 2.5 }, 'limit: expected an integer >= 1, got 2.5'],
    [{ limit: Number.NaN }, 'limit: expected an integer >= 1, got null'],
  ])('rejects %j', (options, message) => {
    const run = () => planLayers(graph, options as never);
    expect(run).toThrow(message);
    expect(run).toThrow(InvalidOptionError);
  });

  it('warns, and otherwise ignores, ignored paths that are not in the graph', () => {
    const warnings: PlanWarning[] = [];
    for (const algorithm of ['auto', 'popularity'] as const) {
      const layers = planLayers(graph, { algorithm, ignore: ['/nix/store/x-absent', p('app')], onWarning: (w) => warnings.push(w) });
      expect(layers).toEqual([[p('lib')]]);
    }
    expect(warnings).toEqual([
      {
        code: 'IGNORED_PATH_NOT_IN_GRAPH',
        path: '/nix/store/x-absent',
        message: 'ignored path /nix/store/x-absent is not in the graph; it has no effect',
      },
      expect.objectContaining({ path: '/nix/store/x-absent' }),
    ]);
  });
});

describe('planLayers graph validation', () => {
  const cases: [string, GraphNode[], new (...args: never[]) => PopularityError, string][] = [
    [
      'a duplicate path',
      [...graph, { path: p('lib'), narSize: 100, references: [] }],
      DuplicatePathError,
      `graph[2]: duplicate path ${p('lib')}`,
    ],
    [
      'a reference outside the graph',
      [{ path: p('app'), narSize: 1, references: ['/nix/store/q-missing'] }],
      UnknownReferenceError,
      `graph: ${p('app')} references /nix/store/q-missing, which is not in the graph`,
    ],
    [
      'a cycle through two paths',
      [
        { path: p('a'), narSize: 1, references: [p('b')] },
        { path: p('b'), narSize: 1, references: [p('a')] },
      ],
      ReferenceCycleError,
      'is part of a reference cycle',
    ],
    ['a missing narSize', [{ path: p('a'), references: [] } as never], InvalidGraphError, `graph[0].narSize: expected a non-negative number (${p('a')})`],
    ['a negative narSize', [{ path: p('a'), narSize: -1, references: [] }], InvalidGraphError, 'graph[0].narSize'],
    ['an empty path', [{ path: '', narSize: 1, references: [] }], InvalidGraphError, 'graph[0].path: expected a non-empty string'],
    ['references not a list', [{ path: p('a'), narSize: 1, references: 'x' } as never], InvalidGraphError, 'graph[0].references'],
  ];
  for (const algorithm of ['auto', 'popularity'] as const) {
    it.each(cases)(`rejects %s (${algorithm})`, (_, bad, type, message) => {
      expect(() => planLayers(bad, { algorithm })).toThrow(type);
      expect(() => planLayers(bad, { algorithm })).toThrow(message);
    });
  }

  it('accepts references to ignored paths that are left out of the graph only where nixpkgs removes them first', () => {
    const partial = [{ path: p('app'), narSize: 1, references: [p('custom')] }];
    expect(planLayers(partial, { algorithm: 'popularity', ignore: [p('custom')] })).toEqual([[p('app')]]);
    expect(() => planLayers(partial, { algorithm: 'auto', ignore: [p('custom')] })).toThrow(UnknownReferenceError);
  });

  it('keeps the error code and instanceof across copies (Symbol.for)', () => {
    try {
      planLayers(graph, { limit: 0 });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PopularityError);
      expect((error as PopularityError).code).toBe('INVALID_OPTION');
      expect({ [Symbol.for('strata.popularity.PopularityError')]: true }).toBeInstanceOf(PopularityError);
    }
  });
});

describe('storeLayerBudget', () => {
  it('subtracts the customisation layer and the base image layers, as nixpkgs counts', () => {
    expect(storeLayerBudget(100, 0)).toBe(99);
    expect(storeLayerBudget(100, 3)).toBe(96);
    expect(storeLayerBudget(2, 0)).toBe(1);
  });

  it('fails with LAYER_BUDGET when no layer is left for store paths', () => {
    expect(() => storeLayerBudget(1, 0)).toThrow(LayerBudgetError);
    expect(() => storeLayerBudget(5, 4)).toThrow(
      'maxLayers: 5 layers already used (4 from the base image, 1 customisation layer) but maxLayers is 5; at least 1 layer is required to store contents',
    );
    const thrown = (() => {
      try {
        return storeLayerBudget(3, 7);
      } catch (error) {
        return error;
      }
    })();
    expect(thrown).toMatchObject({ code: 'LAYER_BUDGET', name: 'LayerBudgetError' });
  });

  it('rejects counts that are not integers', () => {
    expect(() => storeLayerBudget(0, 0)).toThrow('maxLayers: expected an integer >= 1, got 0');
    expect(() => storeLayerBudget(100, -1)).toThrow('baseLayerCount: expected an integer >= 0, got -1');
    expect(() => storeLayerBudget(100.5, 1)).toThrow(InvalidOptionError);
  });
});
