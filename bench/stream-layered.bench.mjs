// Streaming a layered image, on two closures shaped like real ones, both built with real Nix:
// - few large files: ~400 paths, ~1 GiB, 3 files per path (a few hundred KiB to tens of MiB);
// - many small files: ~400 paths, ~1 GiB, ~12k files, most of them 64-128 KiB, plus real trees (a
//   copy of the host's python3.11 and perl libraries: thousands of small files in deep directories).
// Each is timed with `strata stream-layered | cat > /dev/null` and `strata build-layered
// --compressor none -o FILE`, side by side with the single-pass floor over the same paths,
// `tar -cf - PATHS | openssl dgst -sha256` (every byte read once and hashed once, on two cores;
// piped, because GNU tar writing straight to /dev/null skips reading), interleaved run by run.
// stream-layered is also timed writing to /dev/null, which shows what the pipe itself costs: on a
// VM a gigabyte through a 64 KiB pipe to cat is 0.5-0.7 s of copies and wake-ups.
// Wall medians, peak RSS (GNU time), start-up (`strata --version`) and the time to the first byte;
// and the peak RSS on 100k tiny files, where per-entry memory would show.
//
// Commands that write a file (build-layered, `tar | tee FILE`) fill a gigabyte of fresh page cache.
// On a VM whose balloon reports free pages to the host (as this one's does, about 2 s after they are
// freed), touching those pages again costs the guest about 2.5 s a GiB of host faults, whatever
// writes them; on other machines freed pages are simply reused. So they are timed both ways: right
// after a same-sized file of zeros was written and deleted (pages the guest still holds, as on any
// machine), and after 4 s idle (pages given back). A `dd` of the same size shows what the machine
// itself charges for each.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildNix } from '../packages/test-utils/dist/index.js';
import { median, STRATA, timeFirstByte, timeShell } from './_lib.mjs';

const PATHS = 400;
const TOTAL = 1 << 30;
const RUNS = 5;

/** Deterministic, varied sizes summing to about TOTAL: mostly small paths, a few large ones. */
function sizes() {
  const weights = Array.from({ length: PATHS }, (_, i) => ((i * 7919) % 101) ** 3 + 1);
  const sum = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => Math.floor((TOTAL * w) / sum));
}

const MK = 'mk = name: script: derivation { inherit name; system = builtins.currentSystem; builder = "/bin/sh"; PATH = "/usr/bin:/bin"; args = [ "-c" script ]; };';

/** AES-CTR keystream keyed by `i`: incompressible, different for every path, the same on every machine. */
function keystream(i) {
  return `openssl enc -aes-128-ctr -K ${i.toString(16).padStart(32, '0')} -iv 0 -nosalt < /dev/zero 2>/dev/null`;
}

/** Up to 3 references to earlier paths (`${p<j>}`), so the closure has a real graph to plan. */
function refs(i) {
  return [1, 7, 31].filter((d) => i - d >= 0).map((d) => `\${p${i - d}}`).join(' ');
}

/** The closure's root: a path referring to every other one. */
function withRoot(drvs) {
  const all = Array.from({ length: drvs.length }, (_, i) => `\${p${i}}`).join(' ');
  return `let\n  ${MK}\n${drvs.join('\n')}\n  root = mk "bench-root" ''mkdir -p $out; echo ${all} > $out/all'';\nin root\n`;
}

/**
 * Few large files: PATHS derivations of keystream data split over 3 files, each referring to up to
 * 3 earlier paths. Nix caches the outputs: a rerun evaluates and returns at once.
 */
function largeFiles() {
  const drvs = sizes().map((size, i) => {
    const key = i.toString(16).padStart(32, '0');
    const third = Math.floor(size / 3);
    const gen = (n, f) => `openssl enc -aes-128-ctr -K ${key} -iv ${f.padStart(32, '0')} -nosalt < /dev/zero 2>/dev/null | head -c ${n} > $out/share/${f}.bin`;
    const script = [
      'mkdir -p $out/share $out/bin',
      gen(third, 'a'),
      gen(third, 'b'),
      gen(size - 2 * third, 'c'),
      `echo ${refs(i)} > $out/share/refs`,
      'printf "#!/bin/sh\\necho %s\\n" $out > $out/bin/run; chmod 0555 $out/bin/run',
    ].join('; ');
    return `  p${i} = mk "bench-path-${i}" ''${script}'';`;
  });
  return withRoot(drvs);
}

/** The few-large-files closure, also what bench/export times. */
export { largeFiles as expression };

/** Real trees copied from the host into the first paths of the small-files closure (skipped when absent). */
const REAL_TREES = ['/usr/lib/python3.11', '/usr/share/perl', '/usr/lib/x86_64-linux-gnu/perl'];

/**
 * Many small files: the host's python and perl libraries copied into store paths, then generated
 * paths of 18-30 files of 64-128 KiB each (sizes from a fixed LCG) in nested directories, cut from
 * one keystream per path (`head -c` reads exactly what it writes, even from a pipe).
 */
function smallFiles() {
  let seed = 12345;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed;
  };
  const drvs = [];
  for (let i = 0; i < PATHS; i++) {
    const head = ['mkdir -p $out/bin $out/share', `echo ${refs(i)} > $out/share/refs`, 'printf "#!/bin/sh\\necho %s\\n" $out > $out/bin/run; chmod 0555 $out/bin/run'];
    let body;
    if (i < REAL_TREES.length) {
      const tree = REAL_TREES[i];
      body = [`mkdir -p $out/lib`, `if [ -d ${tree} ]; then cp -R --no-preserve=ownership ${tree} $out/lib/; fi`];
    } else {
      const files = 18 + (next() % 13);
      const cuts = [];
      for (let f = 0; f < files; f++) cuts.push(`head -c ${65536 + (next() % 65536)} > $out/lib/m${f % 4}/sub${f % 3}/f${f}.so`);
      body = ['mkdir -p $out/lib/m0/sub0 $out/lib/m0/sub1 $out/lib/m0/sub2 $out/lib/m1/sub0 $out/lib/m1/sub1 $out/lib/m1/sub2 $out/lib/m2/sub0 $out/lib/m2/sub1 $out/lib/m2/sub2 $out/lib/m3/sub0 $out/lib/m3/sub1 $out/lib/m3/sub2', `${keystream(i)} | { ${cuts.join('; ')}; }`];
    }
    drvs.push(`  p${i} = mk "bench-small-${i}" ''${[...head, ...body].join('; ')}'';`);
  }
  return withRoot(drvs);
}

/**
 * 100k tiny files (10 paths of 10k files of 1 KiB, cut with split): not a realistic closure but the
 * entry count of a very large one, to show the plan's memory stays small per entry.
 */
function tinyFiles() {
  const drvs = Array.from({ length: 10 }, (_, i) => {
    const script = `mkdir -p $out/share/d; cd $out/share/d; ${keystream(1000 + i)} | head -c 10240000 | split -b 1024 -a 4 - f`;
    return `  p${i} = mk "bench-tiny-${i}" ''${script}'';`;
  });
  return withRoot(drvs);
}

/** Builds a shape's closure (cached by Nix) and writes its path list and references graph into `dir`. */
async function prepare(name, expression, dir, log) {
  const [root] = await buildNix(expression);
  const paths = execFileSync('nix-store', ['-qR', root], { encoding: 'utf8' }).split('\n').filter(Boolean);
  const bytes = Number(execFileSync('du', ['-sbc', ...paths], { encoding: 'utf8' }).trim().split('\n').pop().split('\t')[0]);
  const files = Number(execFileSync('sh', ['-c', 'find "$@" -type f | wc -l', 'sh', ...paths], { encoding: 'utf8' }).trim());
  const list = join(dir, `${name}.paths`);
  writeFileSync(list, paths.join('\n'));
  // The closure as a references graph (what nixpkgs hands its stream script), so both sides
  // start from a known list of paths; `nix path-info --json` has exportReferencesGraph's fields.
  const graph = join(dir, `${name}.graph.json`);
  writeFileSync(graph, execFileSync('nix', ['path-info', '--json', '--recursive', '--extra-experimental-features', 'nix-command', root]));
  log(`${name}: ${paths.length} paths, ${files} files, ${(bytes / 2 ** 30).toFixed(2)} GiB`);
  return { root, paths, bytes, files, list, graph };
}

const node = process.execPath;

/** Leaves `bytes` of freshly freed pages that the guest still holds: writes them as a file of zeros and deletes it. */
function warmPages(dir, bytes) {
  const file = join(dir, 'warm');
  execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${Math.ceil(bytes / 2 ** 20) + 64}`, 'status=none']);
  rmSync(file);
}

/** Waits until freed pages have been given back to the host (if the VM does that). */
const idle = () => new Promise((resolve) => setTimeout(resolve, 4000));

async function measureShape(label, closure, dir, log) {
  const args = `--name bench --tag 1 --contents ${closure.root} --references-graph ${closure.graph}`;
  const out = join(dir, 'image.tar');
  const commands = {
    floor: { script: `tar -cf - --files-from ${closure.list} | openssl dgst -sha256 > /dev/null`, rssOf: 'tar -cf' },
    // What writing the bytes into a file adds to the floor on this machine (build-layered's job).
    fileFloor: { script: `tar -cf - --files-from ${closure.list} | tee ${out} | openssl dgst -sha256 > /dev/null` },
    stream: { script: `${STRATA} stream-layered ${args} | cat > /dev/null`, rssOf: node },
    // The same without a pipe: what strata costs apart from moving a gigabyte through one.
    streamNull: { script: `${STRATA} stream-layered ${args} > /dev/null` },
    build: { script: `${STRATA} build-layered ${args} --compressor none -o ${out}`, rssOf: node },
  };
  await timeShell(commands.floor.script); // warm the page cache
  const runs = { floor: [], fileFloor: [], stream: [], streamNull: [], build: [], buildIdle: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const [key, { script, rssOf }] of Object.entries(commands)) {
      // The file writers get pages the guest holds (see the top of this file).
      if (key === 'fileFloor' || key === 'build') warmPages(dir, closure.bytes);
      runs[key].push(await timeShell(script, { rssOf }));
      rmSync(out, { force: true });
    }
    await idle();
    runs.buildIdle.push(await timeShell(commands.build.script));
    rmSync(out, { force: true });
    log(
      `${label} run ${i + 1}: floor ${runs.floor[i].seconds.toFixed(2)} s, stream-layered ${runs.stream[i].seconds.toFixed(2)} s (> /dev/null ${runs.streamNull[i].seconds.toFixed(2)} s), build-layered ${runs.build[i].seconds.toFixed(2)} s (after idle ${runs.buildIdle[i].seconds.toFixed(2)} s)`,
    );
  }
  const firstByte = [];
  for (let i = 0; i < 3; i++) firstByte.push(await timeFirstByte(`${STRATA} stream-layered ${args}`));
  const wall = (key) => median(runs[key].map((r) => r.seconds));
  const rss = (key) => Math.max(...runs[key].map((r) => r.rssMiB));
  const floor = wall('floor');
  const what = `${closure.paths.length} paths, ${closure.files} files, ${(closure.bytes / 2 ** 30).toFixed(2)} GiB`;
  return [
    { name: `${label}: floor tar | openssl dgst (${what})`, value: floor, unit: 's', note: `median of ${RUNS}; tar peak RSS ${rss('floor').toFixed(0)} MiB` },
    { name: `${label}: stream-layered | cat`, value: wall('stream'), unit: 's', reference: floor, ratio: wall('stream') / floor, note: 'goal <= 1.3x' },
    { name: `${label}: stream-layered > /dev/null`, value: wall('streamNull'), unit: 's', reference: floor, ratio: wall('streamNull') / floor, note: 'no pipe: the gap to the row above is the pipe to cat' },
    { name: `${label}: build-layered --compressor none`, value: wall('build'), unit: 's', reference: floor, ratio: wall('build') / floor, note: 'goal <= 1.3x; pages held by the guest' },
    { name: `${label}: build-layered vs tar | tee FILE | openssl`, value: wall('build'), unit: 's', reference: wall('fileFloor'), ratio: wall('build') / wall('fileFloor'), note: 'the floor plus writing the file; pages held by the guest' },
    { name: `${label}: build-layered after 4 s idle`, value: wall('buildIdle'), unit: 's', reference: floor, ratio: wall('buildIdle') / floor, note: 'pages given back to the host, as this VM does' },
    { name: `${label}: stream-layered peak RSS`, value: rss('stream'), unit: 'MiB', note: `max of ${RUNS}; goal < 100 MiB` },
    { name: `${label}: build-layered peak RSS`, value: rss('build'), unit: 'MiB', note: `max of ${RUNS}; goal < 100 MiB` },
    { name: `${label}: stream-layered first output byte`, value: median(firstByte), unit: 's', note: 'median of 3, from spawn' },
  ];
}

/**
 * What this machine charges for writing `bytes` into a new file, by itself: `dd` from /dev/zero
 * right after freeing as much, and after 4 s idle. Best of 3 each.
 */
async function measureFreshPages(dir, bytes) {
  const file = join(dir, 'dd.out');
  const dd = `dd if=/dev/zero of=${file} bs=1M count=${Math.ceil(bytes / 2 ** 20)} status=none`;
  const held = [];
  const given = [];
  for (let i = 0; i < 3; i++) {
    warmPages(dir, bytes);
    held.push((await timeShell(dd)).seconds);
    rmSync(file);
    await idle();
    given.push((await timeShell(dd)).seconds);
    rmSync(file);
  }
  const gib = (bytes / 2 ** 30).toFixed(2);
  return [
    { name: `dd ${gib} GiB of zeros into a new file, pages held by the guest`, value: Math.min(...held), unit: 's', note: 'best of 3: what writing the file costs by itself' },
    { name: `dd ${gib} GiB of zeros into a new file, after 4 s idle`, value: Math.min(...given), unit: 's', reference: Math.min(...held), ratio: Math.min(...given) / Math.min(...held), note: 'best of 3: the pages were given back to the host' },
  ];
}

/** `strata --version` against a bare `node -e 0`: what loading the CLI costs before any work. */
async function measureStartup() {
  const version = [];
  const bare = [];
  for (let i = 0; i < RUNS; i++) {
    bare.push((await timeShell(`${node} -e 0`)).seconds);
    version.push((await timeShell(`${STRATA} --version`)).seconds);
  }
  const ref = median(bare);
  return [{ name: 'strata --version', value: median(version), unit: 's', reference: ref, ratio: median(version) / ref, note: 'reference: node -e 0' }];
}

/** Peak RSS (and wall time against the floor) of stream-layered on 100k entries. */
async function measureEntries(closure, log) {
  const args = `--name bench --tag 1 --contents ${closure.root} --references-graph ${closure.graph}`;
  const floor = await timeShell(`tar -cf - --files-from ${closure.list} | openssl dgst -sha256 > /dev/null`);
  const run = await timeShell(`${STRATA} stream-layered ${args} | cat > /dev/null`, { rssOf: node });
  log(`100k entries: floor ${floor.seconds.toFixed(2)} s, stream-layered ${run.seconds.toFixed(2)} s, ${run.rssMiB.toFixed(0)} MiB`);
  return [
    { name: `${closure.files} tiny files: stream-layered | cat`, value: run.seconds, unit: 's', reference: floor.seconds, ratio: run.seconds / floor.seconds, note: 'one run' },
    { name: `${closure.files} tiny files: stream-layered peak RSS`, value: run.rssMiB, unit: 'MiB', note: 'goal < 100 MiB whatever the closure size' },
  ];
}

export default async function bench({ log }) {
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-'));
  try {
    log('building the closures with nix-build (cached after the first run)');
    const large = await prepare('large', largeFiles(), dir, log);
    const small = await prepare('small', smallFiles(), dir, log);
    const tiny = await prepare('tiny', tinyFiles(), dir, log);
    return [
      ...(await measureStartup()),
      ...(await measureFreshPages(dir, large.bytes)),
      ...(await measureShape('few large files', large, dir, log)),
      ...(await measureShape('many small files', small, dir, log)),
      ...(await measureEntries(tiny, log)),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
