// Closure discovery: a 1,000-path references-graph file, and scanning a 100 MiB closure with no Nix
// (NAR size + hash + reference scan), side by side with `nix hash path` over the same paths (Nix
// serialising and hashing the NARs, without even scanning for references).
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectClosure, encodeNixBase32 } from '../packages/closure/dist/index.js';
import { bestOf, timeShell } from './_lib.mjs';

const storePath = (name) => {
  const hash = encodeNixBase32(createHash('sha256').update(name).digest().subarray(0, 20));
  return `/nix/store/${hash}-${name}`;
};

function makeGraph(n) {
  // Each path refers to up to 4 earlier ones: a DAG with shared dependencies, like a real closure.
  const paths = Array.from({ length: n }, (_, i) => storePath(`pkg-${i}`));
  return paths.map((path, i) => ({
    path,
    narSize: 1000 + ((i * 7919) % 5_000_000),
    narHash: `sha256:${encodeNixBase32(createHash('sha256').update(path).digest())}`,
    references: [...new Set([path, ...[1, 2, 5, 17].filter((d) => i - d >= 0).map((d) => paths[i - d])])],
  }));
}

function makeStore(root, paths, totalBytes) {
  // Deterministic pseudo-random contents (sha256 counter stream) with store paths embedded.
  const per = Math.floor(totalBytes / paths.length);
  paths.forEach((path, i) => {
    const dir = join(root, path);
    mkdirSync(join(dir, 'lib'), { recursive: true });
    const chunks = [];
    let made = 0;
    for (let c = 0; made < per; c++) {
      const block = createHash('sha256').update(`${i}:${c}`).digest();
      chunks.push(block);
      made += block.length;
    }
    const refs = paths.slice(Math.max(0, i - 3), i).join('\n');
    writeFileSync(join(dir, 'lib', 'data.bin'), Buffer.concat([...chunks, Buffer.from(`\n${refs}\n`)]));
    writeFileSync(join(dir, 'README'), `package ${i}\n`);
  });
}

export default async function bench({ log }) {
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-closure-'));
  try {
    const graph = makeGraph(1000);
    const graphFile = join(dir, 'graph.json');
    writeFileSync(graphFile, JSON.stringify(graph));
    log('1,000-path graph file');
    const graphSeconds = await bestOf(5, () => collectClosure([graph.at(-1).path], { graphFile }));

    log('building a 100 MiB bare store copy (no Nix database)');
    const storeRoot = join(dir, 'chroot');
    const paths = Array.from({ length: 50 }, (_, i) => storePath(`lib-${i}`));
    makeStore(storeRoot, paths, 100 * 1024 * 1024);
    const root = paths.at(-1);
    const check = await collectClosure([root], { source: 'scan', storeRoot });
    if (check.length !== paths.length) throw new Error(`scan found ${check.length} paths, expected ${paths.length}`);
    const scanSeconds = await bestOf(3, () => collectClosure([root], { source: 'scan', storeRoot }));
    const onDisk = paths.map((p) => join(storeRoot, p)).join(' ');
    let reference = Infinity;
    for (let i = 0; i < 3; i++) {
      const { seconds } = await timeShell(`nix hash path --type sha256 --extra-experimental-features nix-command ${onDisk} > /dev/null`);
      reference = Math.min(reference, seconds);
    }
    return [
      { name: 'closure of a 1,000-path graph file', value: graphSeconds * 1000, unit: 'ms' },
      { name: 'scan a 100 MiB closure (50 paths, NAR hash + references)', value: scanSeconds, unit: 's', reference, ratio: scanSeconds / reference, note: 'reference: nix hash path over the same paths' },
      { name: 'scan throughput', value: 100 / scanSeconds, unit: 'MiB/s' },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
