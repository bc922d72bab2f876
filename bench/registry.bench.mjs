// `strata push` / `strata pull` against `skopeo copy` on one ~1 GiB, ~400-file image and the
// loopback registry: first push, re-push of the unchanged image, and pull into a docker-archive.
// Then pull alone (issue 14's goal: no slower than skopeo, peak RSS under 100 MiB) on a ~350 MB
// image of 10 layers whose bytes compress about 2:1, stored plain (pushed by strata) and gzip
// (pushed by skopeo): wall time best of 3 and peak RSS, side by side, and whether two strata pulls
// wrote the same bytes; the gzip one also through a proxy giving each connection 40 MiB/s, as a
// real network does (both tools write a docker-archive one layer after another).
// The image is a docker-archive of GNU tar layers of random files (a 1 GiB Nix closure is not at
// hand here); both tools read the same file and gzip the layers (random data: gzip only costs time
// here; bench/push.bench.mjs measures real binaries). strata's layer cache lives in the run's temporary
// directory, so the re-push is warm for both tools and no user cache is touched; the machine is
// shared, so numbers are noisy.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readDockerArchive } from '../packages/manifest/dist/index.js';
import { makeTempDir, run, startRegistry } from '../packages/test-utils/dist/index.js';
import { bestOf, STRATA, startThrottle, timeShell } from './_lib.mjs';

const LAYERS = 20;
const FILES_PER_LAYER = 20;
const FILE_SIZE = Math.floor((1024 ** 3) / (LAYERS * FILES_PER_LAYER)); // ~2.6 MiB, ~1 GiB total

async function sha256File(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

/** Writes LAYERS layer tars of random files and a docker-archive holding them; returns both. */
async function buildArchive(dir, log) {
  const layers = [];
  for (let l = 0; l < LAYERS; l++) {
    const root = join(dir, `root${l}`);
    await mkdir(join(root, `opt/layer${l}`), { recursive: true });
    for (let f = 0; f < FILES_PER_LAYER; f++) await writeFile(join(root, `opt/layer${l}/file${f}`), randomBytes(FILE_SIZE));
    const tar = join(dir, `layer${l}.tar`);
    await run('tar', ['-C', root, '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1', '-cf', tar, '.']);
    await rm(root, { recursive: true });
    layers.push({ path: tar, size: (await stat(tar)).size, digest: `sha256:${await sha256File(tar)}` });
  }
  log(`built ${LAYERS} layers, ${(layers.reduce((s, l) => s + l.size, 0) / 1024 ** 2).toFixed(0)} MiB`);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }));
  const configHex = createHash('sha256').update(config).digest('hex');
  const staging = join(dir, 'archive');
  await mkdir(staging);
  await writeFile(join(staging, `${configHex}.json`), config);
  for (const [i, l] of layers.entries()) {
    await mkdir(join(staging, `l${i}`));
    await run('ln', [l.path, join(staging, `l${i}/layer.tar`)]);
  }
  await writeFile(join(staging, 'manifest.json'), JSON.stringify([{ Config: `${configHex}.json`, RepoTags: ['bench:1'], Layers: layers.map((_, i) => `l${i}/layer.tar`) }]));
  const archive = join(dir, 'image.tar');
  await run('tar', ['-C', staging, '-cf', archive, '.']);
  return { layers, config, archive };
}

/** 10 layers of 35 files of 1 MiB of letters a-p (gzip halves them), as a docker-archive. */
async function buildPullArchive(dir) {
  const diffIds = [];
  const names = [];
  for (let l = 0; l < 10; l++) {
    const root = join(dir, `proot${l}`);
    await mkdir(join(root, `opt/l${l}`), { recursive: true });
    for (let f = 0; f < 35; f++) {
      const raw = randomBytes(1024 * 1024);
      for (let i = 0; i < raw.length; i++) raw[i] = 97 + (raw[i] % 16);
      await writeFile(join(root, `opt/l${l}/f${f}`), raw);
    }
    const tar = join(dir, `player${l}.tar`);
    await run('tar', ['-C', root, '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1', '-cf', tar, '.']);
    await rm(root, { recursive: true });
    diffIds.push(`sha256:${await sha256File(tar)}`);
    names.push(`player${l}.tar`);
  }
  await writeFile(join(dir, 'pconfig.json'), JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } }));
  await writeFile(join(dir, 'manifest.json'), JSON.stringify([{ Config: 'pconfig.json', RepoTags: ['pull:1'], Layers: names }]));
  const archive = join(dir, 'pull-image.tar');
  await run('tar', ['-C', dir, '-cf', archive, 'pconfig.json', 'manifest.json', ...names]);
  for (const n of names) await rm(join(dir, n));
  return archive;
}

/** strata pull vs skopeo copy to a docker-archive of one reference: best wall time of 3 and the peak RSS seen. */
async function comparePull(reference, dir, log) {
  const out = join(dir, 'pulled.tar');
  const sk = join(dir, 'skopeo.tar');
  const best = { strata: Infinity, skopeo: Infinity, strataRss: 0, skopeoRss: 0 };
  const digests = new Set();
  for (let i = 0; i < 3; i++) {
    const a = await timeShell(`${STRATA} pull ${reference} -o ${out}`, { rssOf: process.execPath });
    digests.add(await sha256File(out));
    await rm(out);
    const b = await timeShell(`skopeo --insecure-policy copy -q --src-tls-verify=false docker://${reference} docker-archive:${sk}:pull:1`, { rssOf: 'skopeo' });
    await rm(sk);
    best.strata = Math.min(best.strata, a.seconds);
    best.skopeo = Math.min(best.skopeo, b.seconds);
    best.strataRss = Math.max(best.strataRss, a.rssMiB);
    best.skopeoRss = Math.max(best.skopeoRss, b.rssMiB);
  }
  log(`pull ${reference}: strata ${best.strata.toFixed(2)} s ${best.strataRss.toFixed(0)} MiB, skopeo ${best.skopeo.toFixed(2)} s ${best.skopeoRss.toFixed(0)} MiB`);
  return { ...best, deterministic: digests.size === 1 };
}

async function pullRows(dir, reg, log) {
  const archive = await buildPullArchive(dir);
  await timeShell(strata(`push ${archive} ${reg.host}/bench/pull-plain:1 --compression none 2>/dev/null`));
  await timeShell(`skopeo --insecure-policy copy -q --dest-tls-verify=false docker-archive:${archive} docker://${reg.host}/bench/pull-gzip:1`);
  await rm(archive);
  const rows = [];
  for (const kind of ['plain', 'gzip']) {
    const r = await comparePull(`${reg.host}/bench/pull-${kind}:1`, dir, log);
    const note = r.deterministic ? 'same bytes every run' : 'OUTPUT DIFFERED BETWEEN RUNS';
    rows.push({ name: `pull ~350 MB, ${kind} layers (strata pull vs skopeo copy)`, value: r.strata, unit: 's', reference: r.skopeo, ratio: r.strata / r.skopeo, note });
    rows.push({ name: `pull ~350 MB, ${kind} layers: peak RSS`, value: r.strataRss, unit: 'MiB', reference: r.skopeoRss, ratio: r.strataRss / r.skopeoRss, note: 'goal < 100 MiB' });
  }
  // The gzip image again, through a link that gives each connection 40 MiB/s (loopback gives each
  // as much as the cores can move, which hides how many connections a tool keeps busy).
  const link = await startThrottle(reg.host, 40 * 2 ** 20);
  try {
    const r = await comparePull(`${link.host}/bench/pull-gzip:1`, dir, log);
    rows.push({ name: 'pull ~350 MB, gzip layers, 40 MiB/s a connection (strata pull vs skopeo copy)', value: r.strata, unit: 's', reference: r.skopeo, ratio: r.strata / r.skopeo, note: r.deterministic ? 'same bytes every run' : 'OUTPUT DIFFERED BETWEEN RUNS' });
  } finally {
    await link.stop();
  }
  return rows;
}

let cacheHome = '';
const strata = (args) => `XDG_CACHE_HOME=${cacheHome} ${STRATA} ${args}`;

export default async function bench({ log }) {
  const dir = await makeTempDir('strata-bench-registry-');
  cacheHome = join(dir.path, 'cache');
  const reg = await startRegistry();
  try {
    // STRATA_BENCH_PULL_ONLY=1 skips the 1 GiB push rows (minutes) to measure pull alone.
    if (process.env.STRATA_BENCH_PULL_ONLY) return await pullRows(dir.path, reg, log);
    const image = await buildArchive(dir.path, log);
    // Indexing the archive (what push does before its first request) against GNU tar listing it.
    const index = await bestOf(3, () => readDockerArchive(image.archive));
    const tarList = await bestOf(3, async () => (await timeShell(`tar -tf ${image.archive}`)).seconds);
    const push = (repo) => `skopeo --insecure-policy copy -q --dest-tls-verify=false docker-archive:${image.archive} docker://${reg.host}/bench/${repo}:1`;
    const first = await timeShell(strata(`push ${image.archive} ${reg.host}/bench/strata:1 2>/dev/null`));
    const skopeo = await timeShell(push('skopeo'));
    log(`first push: strata ${first.seconds.toFixed(2)} s, skopeo ${skopeo.seconds.toFixed(2)} s`);
    const again = await timeShell(strata(`push ${image.archive} ${reg.host}/bench/strata:1 2>/dev/null`));
    const skopeoAgain = await timeShell(push('skopeo'));
    const pulled = join(dir.path, 'pulled.tar');
    const pull = await timeShell(strata(`pull ${reg.host}/bench/strata:1 -o ${pulled} 2>/dev/null`));
    await rm(pulled);
    const skopeoPull = await timeShell(`skopeo --insecure-policy copy -q --src-tls-verify=false docker://${reg.host}/bench/strata:1 docker-archive:${pulled}:bench:1`);
    return [
      { name: 'index ~1 GiB docker-archive (readDockerArchive vs tar -tf)', value: index, unit: 's', reference: tarList, ratio: index / tarList },
      { name: 'first push, ~1 GiB, 20 layers (strata push vs skopeo copy)', value: first.seconds, unit: 's', reference: skopeo.seconds, ratio: first.seconds / skopeo.seconds, note: 'both gzip' },
      { name: 're-push unchanged image (strata push vs skopeo copy)', value: again.seconds, unit: 's', reference: skopeoAgain.seconds, ratio: again.seconds / skopeoAgain.seconds },
      { name: 'pull to docker-archive (strata pull vs skopeo copy)', value: pull.seconds, unit: 's', reference: skopeoPull.seconds, ratio: pull.seconds / skopeoPull.seconds },
      ...(await pullRows(dir.path, reg, log)),
    ];
  } finally {
    await reg.stop();
    await dir.remove();
  }
}
