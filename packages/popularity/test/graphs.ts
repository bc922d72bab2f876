// Graph fixtures shared by the tests (outside src/, so never built or exported).
import type { GraphNode } from '../src/graph-node.js';

/** A store path with a 32-character hash made from `seed`, e.g. `/nix/store/aaaa…-hello`. */
export function storePath(name: string, seed = name): string {
  let hash = '';
  let x = 0;
  for (const c of seed) x = (x * 31 + c.charCodeAt(0)) >>> 0;
  for (let i = 0; i < 32; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    hash += '0123456789abcdfghijklmnpqrsvwxyz'[(x >>> 16) % 32];
  }
  return `/nix/store/${hash}-${name}`;
}

/** A node from short names: `node('hello', 200, ['glibc'])`, references by name (self allowed). */
export function nodes(spec: Record<string, [number, string[]]>): { graph: GraphNode[]; p: (name: string) => string } {
  const p = (name: string) => storePath(name);
  const graph = Object.entries(spec).map(([name, [narSize, refs]]) => ({
    path: p(name),
    narSize,
    references: refs.map(p),
  }));
  return { graph, p };
}

/** A small deterministic PRNG (mulberry32) so random tests are reproducible from their seed. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A random closure-like DAG: node i references some nodes created before it (and often itself);
 * few distinct sizes and names so ties in narSize and name are common; shuffled input order.
 */
export function randomGraph(seed: number, size: number, options: { zeroSizes?: boolean } = {}): GraphNode[] {
  const rnd = random(seed);
  const names = ['glibc', 'bash', 'zlib', 'openssl', 'hello', 'perl', 'python3'];
  const made: { path: string; narSize: number; references: string[] }[] = [];
  for (let i = 0; i < size; i++) {
    const path = storePath(names[Math.floor(rnd() * names.length)]!, `${seed}/${i}`);
    const references = rnd() < 0.6 ? [path] : [];
    for (const other of made) if (rnd() < 2.5 / (made.length + 1)) references.push(other.path);
    const narSize = options.zeroSizes && rnd() < 0.2 ? 0 : 1 + Math.floor(rnd() * 6) * 100;
    made.push({ path, narSize, references });
  }
  for (let i = made.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [made[i], made[j]] = [made[j]!, made[i]!];
  }
  return made;
}

/**
 * The worked example of the reference (nixpkgs-dockertools.md §3.1): dockerTools' graph of hello
 * with the customisation layer and base JSON as roots, which callers ignore.
 */
export function helloGraph(): { graph: GraphNode[]; p: (name: string) => string; ignore: string[] } {
  const { graph, p } = nodes({
    custom: [10, ['hello']],
    'base.json': [1, []],
    hello: [200, ['glibc', 'hello']],
    glibc: [2000, ['libidn2', 'libgcc', 'glibc']],
    libidn2: [100, ['libunistring']],
    libunistring: [1000, []],
    libgcc: [150, []],
  });
  return { graph, p, ignore: [p('custom'), p('base.json')] };
}
