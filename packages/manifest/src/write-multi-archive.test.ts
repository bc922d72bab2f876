import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { readTar, writeTar } from '@strata/layer';
import { makeTempDir, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createImageConfig } from './config.js';
import { readDockerArchive } from './read-archive.js';
import { type ArchiveLayer, writeDockerArchive } from './write-archive.js';
import { writeMultiImageArchive } from './write-multi-archive.js';

let tmp: TempDir;
beforeAll(async () => {
  tmp = await makeTempDir('strata-multi-archive-');
});
afterAll(() => tmp.remove());

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function layerBytes(name: string, content: string): Promise<Buffer> {
  const bytes = Buffer.from(content);
  return buffer(writeTar([{ name, type: 'file', mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1, size: bytes.length, body: bytes }]));
}

function template(layers: number, cmd: string) {
  const { rootfs: _, ...rest } = createImageConfig(Array(layers).fill('x'), { architecture: 'amd64', config: { Cmd: [cmd] } });
  return rest;
}

/** A layer that counts its reads; `known` declares its diffID up front. */
function counted(bytes: Buffer, known: boolean): ArchiveLayer & { reads: number } {
  const layer = { reads: 0, size: bytes.length, ...(known ? { diffId: sha(bytes) } : {}), open: () => (layer.reads++, Readable.from([bytes])) };
  return layer;
}

async function members(bytes: Buffer): Promise<string[]> {
  const names: string[] = [];
  for await (const m of readTar(Readable.from([bytes]))) names.push(m.name);
  return names;
}

describe('writeMultiImageArchive', () => {
  it('writes exactly the bytes of writeDockerArchive for one image', async () => {
    const one = await layerBytes('a', 'first');
    const two = await layerBytes('b', 'second');
    const layers = () => [counted(one, false), counted(two, true)];
    const single = await buffer(writeDockerArchive(layers(), template(2, '/a'), { repoTags: ['x:1'], mtime: 7 }));
    const multi = writeMultiImageArchive([{ layers: layers(), config: template(2, '/a'), repoTags: ['x:1'] }], { mtime: 7 });
    const bytes = await buffer(multi);
    expect(bytes.length).toBe(multi.size);
    expect(sha(bytes)).toBe(sha(single));
  });

  it('stores a layer shared by digest or by value once, each read once, and every image keeps its tags', async () => {
    const base = await layerBytes('base', 'shared');
    const app = await layerBytes('app', 'app');
    const other = await layerBytes('other', 'other');
    const shared = counted(base, false);
    const sameDigest = counted(base, true);
    const known = counted(base, true);
    const images = [
      { layers: [shared, counted(app, false)], config: template(2, '/app'), repoTags: ['app:1', 'app:latest'] },
      { layers: [shared, counted(other, true)], config: template(2, '/other'), repoTags: [] },
      { layers: [known, sameDigest], config: template(2, '/twice'), repoTags: ['twice:1'] },
    ];
    const archive = writeMultiImageArchive(images);
    const bytes = await buffer(archive);
    expect(bytes.length).toBe(archive.size);
    expect(shared.reads + known.reads + sameDigest.reads).toBe(2); // `shared` (no digest yet) and `known`: not the same key before reading
    const configs = await archive.configs;
    expect((await members(bytes)).sort()).toEqual(
      ['layers/001.tar', 'layers/002.tar', 'layers/003.tar', 'layers/004.tar', ...configs.map((c) => `${c.digest.slice(7)}.json`), 'manifest.json'].sort(),
    );
    const file = join(tmp.path, 'multi.tar');
    await writeFile(file, bytes);
    const read = await readDockerArchive(file);
    expect(read.images.map((i) => i.repoTags)).toEqual([['app:1', 'app:latest'], [], ['twice:1']]);
    expect(read.images.map((i) => i.configDigest)).toEqual(configs.map((c) => c.digest));
    expect(read.images.map((i) => i.layers.map((l) => l.path))).toEqual([
      ['layers/001.tar', 'layers/002.tar'],
      ['layers/001.tar', 'layers/003.tar'],
      ['layers/004.tar', 'layers/004.tar'],
    ]);
    expect(read.images[2]!.config.rootfs.diff_ids).toEqual([sha(base), sha(base)]);
  });

  it('writes one config member for images whose configs are the same bytes', async () => {
    const base = await layerBytes('base', 'x');
    const image = { layers: [counted(base, true)], config: template(1, '/x'), repoTags: ['a:1'] };
    const archive = writeMultiImageArchive([image, { ...image, repoTags: ['b:1'] }]);
    const bytes = await buffer(archive);
    expect(bytes.length).toBe(archive.size);
    const [a, b] = await archive.configs;
    expect(a!.digest).toBe(b!.digest);
    expect((await members(bytes)).filter((n) => n.endsWith('.json'))).toEqual([`${a!.digest.slice(7)}.json`, 'manifest.json']);
  });
});
