// Reading a gzip docker-archive (a compressed fromImage): index it and stream every layer, as a
// build or push does. Two archives: 3000 members of 1 MiB of zeros (a 3 MB file: the issue's
// memory case) and 40 incompressible layers of 4 MiB (the per-layer re-decompression case).
// Reference: GNU tar decompressing the archive once and reading every member (`tar -xzOf`).
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { createHash, randomBytes } from 'node:crypto';
import { writeTar } from '../packages/layer/dist/index.js';
import { timeShell } from './_lib.mjs';

const entry = (name, size, body) => ({ name, type: 'file', mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: 1, size, body });
const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const zeros = (size) => () => Readable.from((function* () {
  for (let left = size; left > 0; left -= 1 << 16) yield Buffer.alloc(Math.min(left, 1 << 16));
})());

async function writeArchive(file, layers, fillers, fillerSize) {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map(sha) } }));
  const manifest = Buffer.from(JSON.stringify([{ Config: 'config.json', RepoTags: ['x:1'], Layers: layers.map((_, i) => `${i}/layer.tar`) }]));
  const entries = [
    ...layers.map((l, i) => entry(`${i}/layer.tar`, l.length, l)),
    ...Array.from({ length: fillers }, (_, i) => entry(`filler/${i}`, fillerSize, zeros(fillerSize))),
    entry('config.json', config.length, config),
    entry('manifest.json', manifest.length, manifest),
  ];
  await pipeline(writeTar(entries), createGzip({ level: 1 }), createWriteStream(file));
}

export default async function bench({ log }) {
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-gzip-'));
  const index = new URL('../packages/manifest/dist/index.js', import.meta.url).pathname;
  const script = (file) =>
    `const { readDockerArchive } = await import(${JSON.stringify(index)}); const a = await readDockerArchive(${JSON.stringify(file)}); ` +
    'for (const l of a.images[0].layers) for await (const _ of l.open()); await a.close?.();';
  const rows = [];
  try {
    const cases = [
      ['3000 members of 1 MiB', 'members.tar.gz', [randomBytes(1000)], 3000, 1 << 20],
      ['40 layers of 4 MiB', 'layers.tar.gz', Array.from({ length: 40 }, () => randomBytes(4 << 20)), 0, 0],
    ];
    for (const [what, name, layers, fillers, fillerSize] of cases) {
      const file = join(dir, name);
      await writeArchive(file, layers, fillers, fillerSize);
      log(`${what}: ${(statSync(file).size / 2 ** 20).toFixed(1)} MiB compressed`);
      const ours = await timeShell(`TMPDIR=${dir} node --input-type=module -e '${script(file)}'`, { rssOf: 'node' });
      const ref = await timeShell(`tar -xzOf ${file} > /dev/null`, { rssOf: 'tar' });
      rows.push({ name: `${what}: read every layer, seconds`, value: ours.seconds, unit: 's', reference: ref.seconds, ratio: ours.seconds / ref.seconds, note: 'tar -xzOf' });
      rows.push({ name: `${what}: peak RSS`, value: ours.rssMiB, unit: 'MiB', note: `tar: ${ref.rssMiB?.toFixed(0)} MiB` });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
