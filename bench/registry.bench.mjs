// `strata push` / `strata pull` against `skopeo copy` on one ~1 GiB, ~400-file image and the
// loopback registry: first push, re-push of the unchanged image, and pull into a docker-archive.
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
import { makeTempDir, repoRoot, run, startRegistry } from '../packages/test-utils/dist/index.js';
import { bestOf, timeShell } from './_lib.mjs';

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

let cacheHome = '';
const strata = (args) => `XDG_CACHE_HOME=${cacheHome} ${process.execPath} ${join(repoRoot(), 'packages/cli/dist/bin.js')} ${args}`;

export default async function bench({ log }) {
  const dir = await makeTempDir('strata-bench-registry-');
  cacheHome = join(dir.path, 'cache');
  const reg = await startRegistry();
  try {
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
    ];
  } finally {
    await reg.stop();
    await dir.remove();
  }
}
