// The ~1 GiB closure the image benchmarks share: 400 paths of incompressible data built with real
// Nix (cached after the first run), and the same closure as a references graph, so strata and the
// reference command start from one known list of paths. The derivations are the ones
// stream-layered.bench.mjs builds, so both benchmarks measure the same store paths.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildNix } from '../packages/test-utils/dist/index.js';

const PATHS = 400;
const TOTAL = 1 << 30;

/** Deterministic, varied sizes summing to about TOTAL: mostly small paths, a few large ones. */
function sizes() {
  const weights = Array.from({ length: PATHS }, (_, i) => ((i * 7919) % 101) ** 3 + 1);
  const sum = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => Math.floor((TOTAL * w) / sum));
}

/**
 * PATHS derivations of AES-CTR keystream data (the key is the index, so contents differ and are
 * incompressible), split over up to 3 files, each referring to up to 3 earlier paths; plus a root
 * referring to all of them.
 */
function expression() {
  const drvs = sizes().map((size, i) => {
    const key = i.toString(16).padStart(32, '0');
    const refs = [1, 7, 31].filter((d) => i - d >= 0).map((d) => `\${p${i - d}}`).join(' ');
    const third = Math.floor(size / 3);
    const gen = (n, f) => `openssl enc -aes-128-ctr -K ${key} -iv ${f.padStart(32, '0')} -nosalt < /dev/zero 2>/dev/null | head -c ${n} > $out/share/${f}.bin`;
    const script = [
      'mkdir -p $out/share $out/bin',
      gen(third, 'a'),
      gen(third, 'b'),
      gen(size - 2 * third, 'c'),
      `echo ${refs} > $out/share/refs`,
      'printf "#!/bin/sh\\necho %s\\n" $out > $out/bin/run; chmod 0555 $out/bin/run',
    ].join('; ');
    return `  p${i} = mk "bench-path-${i}" ''${script}'';`;
  });
  const all = Array.from({ length: PATHS }, (_, i) => `\${p${i}}`).join(' ');
  return `let
  mk = name: script: derivation { inherit name; system = builtins.currentSystem; builder = "/bin/sh"; PATH = "/usr/bin:/bin"; args = [ "-c" script ]; };
${drvs.join('\n')}
  root = mk "bench-root" ''mkdir -p $out; echo ${all} > $out/all'';
in root
`;
}

/**
 * Builds the closure and writes, into `dir`, `paths` (one store path a line) and `graph.json`
 * (`nix path-info --json --recursive`). Returns the root, the paths and their total bytes.
 */
export async function benchClosure(dir, log) {
  log(`building the ${PATHS}-path ~1 GiB closure with nix-build (cached after the first run)`);
  const [root] = await buildNix(expression());
  const paths = execFileSync('nix-store', ['-qR', root], { encoding: 'utf8' }).split('\n').filter(Boolean);
  const bytes = Number(execFileSync('du', ['-sbc', ...paths], { encoding: 'utf8' }).trim().split('\n').pop().split('\t')[0]);
  log(`${paths.length} paths, ${(bytes / 2 ** 30).toFixed(2)} GiB`);
  const list = join(dir, 'paths');
  writeFileSync(list, paths.join('\n'));
  const graph = join(dir, 'graph.json');
  writeFileSync(graph, execFileSync('nix', ['path-info', '--json', '--recursive', '--extra-experimental-features', 'nix-command', root]));
  return { root, paths, bytes, list, graph };
}
