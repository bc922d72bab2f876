import { buildHelloClosure, hasPeers, type HelloClosure, type NixPathInfo, nixPathInfo } from '@strata/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { planLayers } from '../src/plan-layers.js';

// A real closure built by Nix: hello -> {hello (self), greeting, busybox}, greeting -> busybox.
// busybox (a static binary) is by far the largest path.
describe.runIf(hasPeers('nix-build', 'nix'))('planLayers on a real Nix closure', () => {
  let closure: HelloClosure;
  let graph: NixPathInfo[];

  beforeAll(async () => {
    closure = await buildHelloClosure({ message: 'strata popularity test' });
    graph = await nixPathInfo([closure.hello]);
  });

  it('reads the closure Nix reports, with its self reference', () => {
    expect(graph.map((n) => n.path).sort()).toEqual([closure.busybox, closure.greeting, closure.hello].sort());
    const hello = graph.find((n) => n.path === closure.hello)!;
    expect(hello.references).toContain(closure.hello);
    const busybox = graph.find((n) => n.path === closure.busybox)!;
    expect(busybox.narSize).toBeGreaterThan(Math.max(...graph.filter((n) => n !== busybox).map((n) => n.narSize)));
  });

  it('gives each path its own layer, dependencies first, when the limit allows (auto)', () => {
    expect(planLayers(graph)).toEqual([[closure.busybox], [closure.greeting], [closure.hello]]);
  });

  it('splits off the biggest path first as the limit shrinks (auto)', () => {
    expect(planLayers(graph, { limit: 2 })).toEqual([[closure.busybox], [closure.greeting, closure.hello]]);
    // One layer: sorted by name (busybox-static-1.35, greeting-data, hello-app-1.0), not by hash.
    expect(planLayers(graph, { limit: 1 })).toEqual([[closure.busybox, closure.greeting, closure.hello]]);
  });

  it('ranks busybox most popular: referenced directly and through greeting (popularity)', () => {
    expect(planLayers(graph, { algorithm: 'popularity' })).toEqual([[closure.busybox], [closure.greeting], [closure.hello]]);
    expect(planLayers(graph, { algorithm: 'popularity', limit: 2 })).toEqual([
      [closure.busybox],
      [closure.greeting, closure.hello],
    ]);
  });

  it('leaves an ignored root out while it still takes part in the split (auto)', () => {
    expect(planLayers(graph, { limit: 2, ignore: [closure.hello] })).toEqual([[closure.busybox], [closure.greeting]]);
  });
});
