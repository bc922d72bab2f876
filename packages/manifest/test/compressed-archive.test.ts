import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { type TarEntry, writeTar } from '@strata/layer';
import { makeTempDir, repoRoot, type TempDir } from '@strata/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readDockerArchive } from '../src/read-archive.js';

// A gzip docker-archive cannot seek: it used to be indexed by holding every member up to 1 MiB in
// memory (a 2 MB file reached 1.1 GB of RSS), and each layer was read by decompressing the archive
// again from its start (quadratic in layers). It is now decompressed once into an unnamed
// temporary file (removed on every path) and read like a plain one.

let tmp: TempDir;
let spool: string;
const savedTmpdir = process.env.TMPDIR;
beforeAll(async () => {
  tmp = await makeTempDir('strata-manifest-gzip-');
  // The archive reader's temporary files go here, so the test can see that none is left.
  spool = join(tmp.path, 'tmpdir');
  await mkdir(spool);
  process.env.TMPDIR = spool;
});
afterEach(async () => {
  expect(await readdir(spool)).toEqual([]);
});
afterAll(async () => {
  process.env.TMPDIR = savedTmpdir;
  await tmp.remove();
});

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const entry = (name: string, size: number, body: TarEntry['body']): TarEntry => ({ name, type: 'file', mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: 1, size, body });

/** Zeros, produced as they are read (the test process never holds a member). */
function zeros(size: number): () => Readable {
  return () =>
    Readable.from(
      (function* () {
        for (let left = size; left > 0; left -= 1 << 16) yield Buffer.alloc(Math.min(left, 1 << 16));
      })(),
    );
}

/** Writes a docker-archive: `layers`, then `fillers` extra members of `fillerSize` zero bytes, then config and manifest.json; gzip-compressed or not. */
async function writeArchive(file: string, layers: readonly Buffer[], fillers: number, fillerSize: number, gzip: boolean): Promise<void> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map(sha) } }));
  const manifest = Buffer.from(JSON.stringify([{ Config: 'config.json', RepoTags: ['x:1'], Layers: layers.map((_, i) => `${i}/layer.tar`) }]));
  const entries = [
    ...layers.map((layer, i) => entry(`${i}/layer.tar`, layer.length, layer)),
    ...Array.from({ length: fillers }, (_, i) => entry(`filler/${i}`, fillerSize, zeros(fillerSize))),
    entry('config.json', config.length, config),
    entry('manifest.json', manifest.length, manifest),
  ];
  await pipeline([writeTar(entries), ...(gzip ? [createGzip({ level: 1 })] : []), createWriteStream(file)]);
}

/** The peak RSS (MiB) of a fresh Node process that reads `file`'s index and every layer. */
function peakRss(file: string): number {
  const index = join(repoRoot(), 'packages/manifest/dist/index.js');
  const script = `
    const { readDockerArchive } = await import(${JSON.stringify(index)});
    const archive = await readDockerArchive(${JSON.stringify(file)});
    for (const layer of archive.images[0].layers) for await (const _ of layer.open());
    await archive.close?.();
    process.stdout.write(String(process.resourceUsage().maxRSS));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, TMPDIR: spool }, encoding: 'utf8' });
  expect(child.stderr).toBe('');
  return Number(child.stdout) / 1024;
}

/** Bytes this process has asked the kernel to read so far (page-cache hits included). */
function bytesRead(): number {
  return Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
}

describe('readDockerArchive of a compressed archive', () => {
  it('keeps memory bounded however many small members the archive holds, compressed or not', async () => {
    // 600 members of 1 MiB each (the old "small member" size), 600 MiB once decompressed.
    for (const gzip of [true, false]) {
      const file = join(tmp.path, `many-members${gzip ? '.tar.gz' : '.tar'}`);
      await writeArchive(file, [randomBytes(1000)], 600, 1 << 20, gzip);
      const rss = peakRss(file);
      // Node alone is ~45 MiB; holding the members took more than 600 MiB.
      expect(rss, `${gzip ? 'gzip' : 'plain'}: peak RSS ${rss.toFixed(0)} MiB`).toBeLessThan(200);
    }
  }, 120_000);

  it('decompresses the archive once, not once per layer', async () => {
    // Incompressible layers: re-decompressing from the start would read the file ~layers/2 times.
    const layers = Array.from({ length: 24 }, () => randomBytes(1 << 20));
    const file = join(tmp.path, 'layers.tar.gz');
    await writeArchive(file, layers, 0, 0, true);
    const { size } = await stat(file);
    const before = bytesRead();
    const archive = await readDockerArchive(file);
    try {
      const bodies = [];
      for (const layer of archive.images[0]!.layers) bodies.push(sha(await buffer(layer.open())));
      expect(bodies).toEqual(layers.map(sha));
    } finally {
      await archive.close();
    }
    // The compressed file once, then the decompressed copy once.
    expect(bytesRead() - before).toBeLessThan(3 * size);
  });

  it('names no file in TMPDIR at any time, and leaves none when decompression fails or is aborted', async () => {
    const layers = Array.from({ length: 8 }, () => randomBytes(4 << 20));
    const file = join(tmp.path, 'abort.tar.gz');
    await writeArchive(file, layers, 0, 0, true);
    const controller = new AbortController();
    const before = bytesRead();
    const reading = readDockerArchive(file, { signal: controller.signal });
    reading.catch(() => {});
    // The private directory lives only while the file is created and unlinked, before the first
    // compressed byte is read. Once a megabyte has been read (however long that takes on a loaded
    // machine: no fixed wait), the archive is decompressing and nothing is named in TMPDIR.
    for (let waited = 0; bytesRead() - before < 1 << 20; waited += 2) {
      expect(waited, 'decompression starts').toBeLessThan(10_000);
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(await readdir(spool)).toEqual([]);
    controller.abort(new DOMException('interrupted', 'AbortError'));
    await expect(reading).rejects.toMatchObject({ name: 'AbortError' });

    const corrupt = readFileSync(file);
    corrupt.fill(0x55, corrupt.length >> 1, (corrupt.length >> 1) + 4096);
    const broken = join(tmp.path, 'corrupt.tar.gz');
    await pipeline(Readable.from([corrupt]), createWriteStream(broken));
    await expect(readDockerArchive(broken)).rejects.toMatchObject({ code: 'INVALID_ARCHIVE', message: expect.stringMatching(new RegExp(`^${broken}: cannot decompress \\(gzip\\): `)) });
  });

  it('reads a plain archive through a pipe (process substitution) the same way', async () => {
    const layers = [randomBytes(3000), randomBytes(5000)];
    const file = join(tmp.path, 'piped.tar');
    await writeArchive(file, layers, 2, 10, false);
    const fifo = join(tmp.path, 'archive.fifo');
    spawnSync('mkfifo', [fifo]);
    const writer = pipeline(Readable.from([readFileSync(file)]), createWriteStream(fifo));
    const archive = await readDockerArchive(fifo);
    try {
      expect(await Promise.all(archive.images[0]!.layers.map(async (l) => sha(await buffer(l.open()))))).toEqual(layers.map(sha));
    } finally {
      await archive.close();
    }
    await writer;
  });

  it('refuses a directory or a device instead of reading it', async () => {
    await expect(readDockerArchive(tmp.path)).rejects.toMatchObject({ code: 'INVALID_ARCHIVE', message: `${tmp.path}: is a directory; an image archive must be a file or a pipe` });
    await expect(readDockerArchive('/dev/zero')).rejects.toMatchObject({ code: 'INVALID_ARCHIVE', message: '/dev/zero: is a device; an image archive must be a file or a pipe' });
  });
});
