// Layer planning at scale: @strata/popularity's planLayers on synthetic closure-like graphs of
// 1k..50k paths, limit 100 (auto and popularity). nixpkgs' auto-layer.py is the reference: it is
// not vendored (strata does not copy nixpkgs code); point NIXPKGS_AUTO_LAYER at a nixpkgs checkout's
// pkgs/build-support/docker/auto-layer.py to time it side by side and check both agree.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bestOf, STRATA, timeShell } from './_lib.mjs';

const { planLayers } = await import('../packages/popularity/dist/index.js');

/** A deterministic closure-like DAG: each path refers to a few earlier ones, biased to the "core" (low indices). */
function closureGraph(size, seed = 1) {
  let a = seed >>> 0;
  const rnd = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const graph = [];
  for (let i = 0; i < size; i++) {
    const path = `/nix/store/${i.toString(32).padStart(32, '0')}-pkg-${i % 997}`;
    const references = new Set([path]);
    const count = i === 0 ? 0 : 1 + Math.floor(rnd() * 6);
    for (let j = 0; j < count; j++) references.add(graph[Math.floor(i * rnd() ** 2)].path);
    graph.push({ path, narSize: Math.floor(1000 * Math.exp(rnd() * 10)), references: [...references] });
  }
  return graph;
}

const sizes = [1000, 5000, 10000, 20000, 50000];
const canonical = (layers) => JSON.stringify(layers.map((l) => [...l].sort()).sort());

export default async function bench({ log }) {
  const rows = [];
  const reference = process.env.NIXPKGS_AUTO_LAYER;
  const referenceMax = Number(process.env.NIXPKGS_AUTO_LAYER_MAX ?? 20000);
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-popularity-'));
  try {
    for (const size of sizes) {
      const graph = closureGraph(size);
      let layers;
      const seconds = await bestOf(3, async () => {
        layers = planLayers(graph, { limit: 100 });
      });
      const row = { name: `auto, ${size} paths, limit 100`, value: seconds * 1000, unit: 'ms', note: `${layers.length} layers` };
      if (reference && size <= referenceMax) {
        const file = join(dir, `graph-${size}.json`);
        const out = join(dir, `layers-${size}.json`);
        writeFileSync(file, JSON.stringify(graph));
        log(`auto-layer.py on ${size} paths...`);
        const { seconds: ref } = await timeShell(`python3 ${reference} ${file} /dev/null 100 > ${out}`);
        const same = canonical(JSON.parse(readFileSync(out, 'utf8'))) === canonical(layers);
        Object.assign(row, { reference: ref * 1000, ratio: ref / seconds, note: `${row.note}, ${same ? 'same layers' : 'DIFFERENT layers'}` });
      }
      rows.push(row);
      log(`auto ${size}: ${(seconds * 1000).toFixed(1)} ms`);
    }
    for (const size of sizes) {
      const graph = closureGraph(size);
      const seconds = await bestOf(size > 20000 ? 1 : 3, async () => {
        planLayers(graph, { algorithm: 'popularity', limit: 100 });
      });
      rows.push({ name: `popularity, ${size} paths, limit 100`, value: seconds * 1000, unit: 'ms' });
      log(`popularity ${size}: ${(seconds * 1000).toFixed(1)} ms`);
    }
    rows.push(await endToEnd(dir, reference, log));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const first = rows[0].value;
  const last = rows[sizes.length - 1].value;
  rows.push({ name: 'auto growth 1k -> 50k paths (time ratio)', value: last / first, unit: 'x', note: '50x more paths' });
  return rows;
}

/** Like for like with the Python script: a process that reads the 50k graph file and prints the layers. */
async function endToEnd(dir, reference, log) {
  const file = join(dir, 'graph-e2e.json');
  writeFileSync(file, JSON.stringify(closureGraph(50000)));
  log('strata plan-layers on 50000 paths (process, JSON in and out)...');
  const { seconds } = await timeShell(`${STRATA} plan-layers --graph ${file} --limit 100 > /dev/null`);
  const row = { name: 'strata plan-layers CLI, 50000 paths, end to end', value: seconds * 1000, unit: 'ms' };
  if (!reference) return { ...row, note: 'set NIXPKGS_AUTO_LAYER to compare' };
  const { seconds: ref } = await timeShell(`python3 ${reference} ${file} /dev/null 100 > /dev/null`);
  return { ...row, reference: ref * 1000, ratio: ref / seconds, note: 'auto-layer.py process' };
}
