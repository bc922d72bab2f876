import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, mkdir, open, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { makeTempDir, run, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDockerArchive } from './read-archive.js';

let tmp: TempDir;
beforeAll(async () => {
  tmp = await makeTempDir('strata-manifest-read-');
});
afterAll(() => tmp.remove());

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Bytes this process has asked the kernel to read so far (page-cache hits included). */
function bytesRead(): number {
  return Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
}

/** A ustar header block written by hand, so a member can claim a size whose body is a hole. */
function ustarHeader(name: string, size: number): Buffer {
  const block = Buffer.alloc(512);
  block.write(name, 0, 'utf8');
  block.write('0000644\0', 100);
  block.write('0000000\0', 108);
  block.write('0000000\0', 116);
  block.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  block.write('00000000001\0', 136);
  block.write('0', 156);
  block.write('ustar\x0000', 257, 'latin1');
  block.write('        ', 148);
  const sum = block.reduce((n, byte) => n + byte, 0);
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return block;
}

function padded(bytes: Buffer): Buffer {
  return Buffer.concat([bytes, Buffer.alloc((512 - (bytes.length % 512)) % 512)]);
}

/** A docker-archive staged as skopeo and docker save lay it out: symlinked and hard-linked layer members, a layer listed twice, long names. */
async function stageArchive(dir: string): Promise<{ one: Buffer; two: Buffer; config: Buffer }> {
  const one = Buffer.alloc(3 << 20, 1); // above the "small member" limit: only its first bytes are read when indexing
  const two = Buffer.from('second layer');
  const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/layer.tar`;
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(one), sha(two), sha(one), sha(one)] } }));
  await mkdir(join(dir, 'a'), { recursive: true });
  await mkdir(join(dir, 'b'));
  await mkdir(join(dir, 'd'.repeat(60), 'e'.repeat(60)), { recursive: true });
  await writeFile(join(dir, 'a/layer.tar'), one);
  await symlink('../a/layer.tar', join(dir, 'b/layer.tar'));
  await mkdir(join(dir, 'c'));
  await link(join(dir, 'a/layer.tar'), join(dir, 'c/layer.tar'));
  await writeFile(join(dir, long), two);
  await writeFile(join(dir, `${sha(config).slice(7)}.json`), config);
  const manifest = [{ Config: `${sha(config).slice(7)}.json`, RepoTags: ['x:1'], Layers: ['b/layer.tar', long, 'a/layer.tar', 'c/layer.tar'] }];
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return { one, two, config };
}

describe('readDockerArchive', () => {
  it.each([
    ['gnu', false],
    ['pax', false],
    ['ustar', false],
    ['pax', true],
  ])('indexes a %s archive (gzip: %s) with long names, linked layers and a layer listed twice', async (format, gzip) => {
    const staging = join(tmp.path, `stage-${format}-${gzip}`);
    const { one, two, config } = await stageArchive(staging);
    const file = join(tmp.path, `${format}-${gzip}.tar`);
    // ustar splits the 131-character name into its prefix and name fields; gnu and pax add a long-name header.
    await run('tar', ['-C', staging, `--format=${format}`, ...(gzip ? ['-z'] : []), '-cf', file, '.']);
    const archive = await readDockerArchive(file);
    expect(archive.compression).toBe(gzip ? 'gzip' : 'none');
    const [image] = archive.images;
    expect(image?.configBytes.equals(config)).toBe(true);
    expect(image?.layers.map((l) => [l.size, l.diffId])).toEqual([
      [one.length, sha(one)],
      [two.length, sha(two)],
      [one.length, sha(one)],
      [one.length, sha(one)],
    ]);
    const bodies = await Promise.all(image!.layers.map(async (l) => sha(await buffer(l.open()))));
    expect(bodies).toEqual([sha(one), sha(two), sha(one), sha(one)]);
  });

  it('indexes a 4 GiB layer member reading less than 1 MiB of the file', async () => {
    const layerSize = 4 * 1024 ** 3;
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${'a'.repeat(64)}`] } }));
    const configName = `${sha(config).slice(7)}.json`;
    const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: [], Layers: ['big/layer.tar'] }]));
    const file = join(tmp.path, 'sparse.tar');
    const handle = await open(file, 'w');
    try {
      // The layer's body is a hole: the file claims 4 GiB but holds a few blocks.
      await handle.write(ustarHeader('big/layer.tar', layerSize), 0, 512, 0);
      const tail = Buffer.concat([ustarHeader(configName, config.length), padded(config), ustarHeader('manifest.json', manifest.length), padded(manifest), Buffer.alloc(1024)]);
      await handle.write(tail, 0, tail.length, 512 + layerSize);
    } finally {
      await handle.close();
    }
    const before = bytesRead();
    const archive = await readDockerArchive(file);
    const read = bytesRead() - before;
    expect(archive.images[0]?.layers.map((l) => [l.path, l.size, l.compression])).toEqual([['big/layer.tar', layerSize, 'none']]);
    expect(read).toBeLessThan(1 << 20);
  });

  it('rejects a member that claims more bytes than the file holds', async () => {
    const file = join(tmp.path, 'truncated.tar');
    await writeFile(file, Buffer.concat([ustarHeader('layer.tar', 4096), Buffer.alloc(512)]));
    await expect(readDockerArchive(file)).rejects.toThrow(`${file}: the tar member at byte 0 claims 4096 bytes past the end of the file`);
  });

  it('rejects a header whose checksum is wrong, naming the file and offset', async () => {
    const block = ustarHeader('manifest.json', 2);
    block[0] = 0x4e; // "N": the stored checksum no longer matches
    const file = join(tmp.path, 'corrupt.tar');
    await writeFile(file, Buffer.concat([block, padded(Buffer.from('[]')), Buffer.alloc(1024)]));
    await expect(readDockerArchive(file)).rejects.toThrow(`${file}: bad tar header checksum at byte 0`);
  });
});
