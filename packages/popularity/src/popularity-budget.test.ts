import { describe, expect, it } from 'vitest';
import { InvalidGraphError } from './errors.js';
import type { GraphNode } from './graph-node.js';
import { planLayers } from './plan-layers.js';

/** n paths, each referring to the 4 before it: the walks to the last path grow exponentially. */
function lattice(n: number): GraphNode[] {
  const path = (i: number) => `/nix/store/${i.toString(32).padStart(32, '0')}-p${i}`;
  return Array.from({ length: n }, (_, i) => ({ path: path(i), narSize: 1, references: [1, 2, 3, 4].filter((d) => i - d >= 0).map((d) => path(i - d)) }));
}

describe('the popularity contest on a hostile graph', () => {
  it('stops with a clear error instead of running for hours', () => {
    // 20,000 paths: exact popularity needs ~10^10 additions of 700-word numbers.
    const graph = lattice(20_000);
    for (const options of [{ algorithm: 'popularity' as const, limit: 100 }, { pipeline: [['popularity_contest'], ['limit_layers', 100]] }]) {
      const error = (() => {
        try {
          planLayers(graph, options);
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(InvalidGraphError);
      expect((error as Error).message).toMatch(
        /^graph: ranking 20000 paths by popularity needs more than 300000000 steps \(their paths are reached by too many routes\); use the auto layering \(the default\), or a layering pipeline without popularity_contest$/,
      );
    }
  }, 60_000);
});
