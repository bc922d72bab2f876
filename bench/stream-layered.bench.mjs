// Streaming a layered image: a ~400-path, ~1 GiB closure built with real Nix, streamed by
// `strata stream-layered | cat > /dev/null`, side by side with the single-pass floor over the same
// paths, `tar -cf - PATHS | openssl dgst -sha256` (every byte read once and hashed once; piped,
// because GNU tar writing straight to /dev/null skips reading). Wall time and strata's peak RSS.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildNix } from '../packages/test-utils/dist/index.js';
import { timeShell } from './_lib.mjs';

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
 * referring to all of them. Nix caches the outputs: a rerun evaluates and returns at once.
 */
export function expression() {
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

export default async function bench({ log }) {
  log(`building the ${PATHS}-path ~1 GiB closure with nix-build (cached after the first run)`);
  const [root] = await buildNix(expression());
  const paths = execFileSync('nix-store', ['-qR', root], { encoding: 'utf8' }).split('\n').filter(Boolean);
  const bytes = Number(execFileSync('du', ['-sbc', ...paths], { encoding: 'utf8' }).trim().split('\n').pop().split('\t')[0]);
  log(`${paths.length} paths, ${(bytes / 2 ** 30).toFixed(2)} GiB`);
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-'));
  try {
    const list = join(dir, 'paths');
    writeFileSync(list, paths.join('\n'));
    // The closure as a references graph (what nixpkgs hands its stream script), so both sides
    // start from a known list of paths; \`nix path-info --json\` has exportReferencesGraph's fields.
    const graph = join(dir, 'graph.json');
    writeFileSync(graph, execFileSync('nix', ['path-info', '--json', '--recursive', '--extra-experimental-features', 'nix-command', root]));
    const bin = new URL('../packages/cli/dist/bin.js', import.meta.url).pathname;
    const strata = `${process.execPath} ${bin} stream-layered --name bench --tag 1 --contents ${root} --references-graph ${graph} | cat > /dev/null`;
    const floor = `tar -cf - --files-from ${list} | openssl dgst -sha256 > /dev/null`;
    await timeShell(floor); // warm the page cache
    let best = { seconds: Infinity };
    let bestFloor = Infinity;
    for (let i = 0; i < 3; i++) {
      bestFloor = Math.min(bestFloor, (await timeShell(floor)).seconds);
      const run = await timeShell(strata, { rssOf: process.execPath });
      if (run.seconds < best.seconds) best = run;
      log(`run ${i + 1}: strata ${run.seconds.toFixed(2)} s (${run.rssMiB?.toFixed(0)} MiB), floor ${bestFloor.toFixed(2)} s`);
    }
    const gib = bytes / 2 ** 30;
    return [
      { name: `stream-layered ${paths.length} paths ${gib.toFixed(2)} GiB | cat (wall, best of 3)`, value: best.seconds, unit: 's', reference: bestFloor, ratio: best.seconds / bestFloor, note: 'reference: tar | openssl dgst -sha256' },
      { name: 'stream-layered per GiB', value: best.seconds / gib, unit: 's/GiB', reference: bestFloor / gib, ratio: best.seconds / bestFloor },
      { name: 'stream-layered peak RSS', value: best.rssMiB, unit: 'MiB', note: 'goal < 150 MiB' },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
