import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';
import { writeTar } from '@strata/layer';
import { makeTempDir, run, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createImageConfig } from './config.js';
import { ManifestError } from './errors.js';
import { readDockerArchive } from './read-archive.js';
import { type ArchiveLayer, imageConfigBytes, writeDockerArchive } from './write-archive.js';

let tmp: TempDir;
beforeAll(async () => {
  tmp = await makeTempDir('strata-manifest-');
});
afterAll(() => tmp.remove());

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function layerBytes(name: string, content: string): Promise<Buffer> {
  const bytes = Buffer.from(content);
  return buffer(writeTar([{ name, type: 'file', mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1, size: bytes.length, body: bytes }]));
}

function template(layers: number) {
  const { rootfs: _, ...rest } = createImageConfig(Array(layers).fill('x'), { architecture: 'amd64', config: { Cmd: ['/a'] } });
  return rest;
}

describe('writeDockerArchive', () => {
  // Pinned so that changes to how archives are written (for speed) provably keep every byte.
  it('writes the same bytes as it always has', async () => {
    const big = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) & 0xff));
    const entry = { type: 'file' as const, mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1 };
    const layers: ArchiveLayer[] = [
      { size: 0, open: () => writeTar([{ ...entry, name: 'big', size: big.length, body: () => Readable.from([big.subarray(0, 1000), big.subarray(1000)]) }]) },
      { size: 0, open: () => Readable.from([Buffer.alloc(1024)]) },
    ];
    const sizes = [writeTar([{ ...entry, name: 'big', size: big.length, body: big }]).size, 1024];
    const sized = layers.map((l, i) => ({ ...l, size: sizes[i]! }));
    const archive = writeDockerArchive(sized, template(2), { repoTags: ['pin:1'] });
    const out = await buffer(archive);
    expect(out.length).toBe(archive.size);
    expect(sha(out)).toBe('sha256:92ef4701881e59bdc13e1d05d4abce148e4c73006d2540f06bfe5d9e49786c72');
  });

  it('announces its exact size, fills in the diffIDs and names the config by its digest', async () => {
    const one = await layerBytes('/a', 'first');
    const two = await layerBytes('/b', 'second');
    const layers: ArchiveLayer[] = [
      { size: one.length, open: () => Readable.from([one]) },
      { size: two.length, open: () => Readable.from([two]), diffId: sha(two) },
    ];
    const archive = writeDockerArchive(layers, template(2), { repoTags: ['hello:1'] });
    const bytes = await buffer(archive);
    expect(bytes.length).toBe(archive.size);
    const file = join(tmp.path, 'a.tar');
    await writeFile(file, bytes);
    const { stdout } = await run('tar', ['-tf', file]);
    const { digest, bytes: configBytes } = await archive.config;
    expect(stdout.split('\n').filter(Boolean)).toEqual(['layers/001.tar', 'layers/002.tar', `${digest.slice(7)}.json`, 'manifest.json']);
    expect(sha(configBytes)).toBe(digest);
    const read = await readDockerArchive(file);
    const [image] = read.images;
    expect(read.compression).toBe('none');
    expect(image?.repoTags).toEqual(['hello:1']);
    expect(image?.configDigest).toBe(digest);
    expect(image?.config.rootfs.diff_ids).toEqual([sha(one), sha(two)]);
    expect(image?.layers.map((l) => [l.path, l.size, l.compression])).toEqual([
      ['layers/001.tar', one.length, 'none'],
      ['layers/002.tar', two.length, 'none'],
    ]);
    expect((await buffer(image!.layers[1]!.open())).equals(two)).toBe(true);
  });

  it('is byte-for-byte reproducible', async () => {
    const one = await layerBytes('/a', 'same');
    const make = () => buffer(writeDockerArchive([{ size: one.length, open: () => Readable.from([one]) }], template(1), { repoTags: ['x:y'] }));
    expect((await make()).equals(await make())).toBe(true);
  });

  it('writes the config bytes imageConfigBytes computes for the same template and diffIDs', async () => {
    const one = await layerBytes('/a', 'same');
    const archive = writeDockerArchive([{ size: one.length, open: () => Readable.from([one]) }], template(1));
    await buffer(archive);
    expect((await archive.config).bytes.equals(imageConfigBytes(template(1), [sha(one)]))).toBe(true);
  });

  it('keeps given config bytes exactly, and rejects ones naming other diffIDs', async () => {
    const one = await layerBytes('/a', 'kept');
    const history = [{ created_by: 'ENV A=1', empty_layer: true }, { created_by: 'COPY a' }];
    const kept = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', history, rootfs: { type: 'layers', diff_ids: [sha(one)] } }, null, 2));
    const layers = [{ size: one.length, open: () => Readable.from([one]) }];
    const archive = writeDockerArchive(layers, template(1), { configBytes: kept });
    const bytes = await buffer(archive);
    expect(bytes.length).toBe(archive.size);
    expect((await archive.config).digest).toBe(sha(kept));
    expect(bytes.includes(kept)).toBe(true);
    const other = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [sha(Buffer.from('x'))] } }));
    await expect(buffer(writeDockerArchive(layers, template(1), { configBytes: other }))).rejects.toThrow("configBytes: rootfs.diff_ids do not match the 1 layers' diffIDs");
    await expect(buffer(writeDockerArchive(layers, template(1), { configBytes: Buffer.from('{') }))).rejects.toThrow('configBytes: not JSON');
  });

  it('fails when a layer is not the size it announced', async () => {
    const one = await layerBytes('/a', 'short');
    const archive = writeDockerArchive([{ size: one.length + 512, open: () => Readable.from([one]) }], template(1));
    await expect(buffer(archive)).rejects.toThrow(/expected \d+ bytes, read \d+/);
  });
});

describe('readDockerArchive', () => {
  it('reads a gzip-compressed archive and opens its layers', async () => {
    const one = await layerBytes('/g', 'gz');
    const plain = await buffer(writeDockerArchive([{ size: one.length, open: () => Readable.from([one]) }], template(1), { repoTags: ['gz:1'] }));
    const file = join(tmp.path, 'a.tar.gz');
    await writeFile(file, gzipSync(plain));
    const read = await readDockerArchive(file);
    expect(read.compression).toBe('gzip');
    const layer = read.images[0]!.layers[0]!;
    expect((await buffer(layer.open())).equals(one)).toBe(true);
    expect(layer.diffId).toBe(sha(one));
  });

  it('reads an archive written by GNU tar with ./ names and compressed layers', async () => {
    const dir = join(tmp.path, 'gnu');
    await run('mkdir', ['-p', join(dir, 'abc')]);
    const layer = await layerBytes('/x', 'x');
    await writeFile(join(dir, 'abc/layer.tar.gz'), gzipSync(layer));
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] }, extra: 1 }));
    await writeFile(join(dir, 'cfg.json'), config);
    await writeFile(join(dir, 'manifest.json'), JSON.stringify([{ Config: 'cfg.json', RepoTags: null, Layers: ['abc/layer.tar.gz'] }]));
    const file = join(tmp.path, 'gnu.tar');
    await run('tar', ['-C', dir, '-cf', file, '.']);
    const [image] = (await readDockerArchive(file)).images;
    expect(image?.repoTags).toEqual([]);
    expect(image?.layers[0]?.compression).toBe('gzip');
    expect(image?.configBytes.equals(config)).toBe(true);
  });

  it('names the archive and the missing piece when manifest.json lies', async () => {
    const dir = join(tmp.path, 'bad');
    await run('mkdir', ['-p', dir]);
    await writeFile(join(dir, 'c.json'), JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: ['sha256:00'] } }));
    await writeFile(join(dir, 'manifest.json'), JSON.stringify([{ Config: 'c.json', Layers: ['gone.tar'] }]));
    const file = join(tmp.path, 'bad.tar');
    await run('tar', ['-C', dir, '-cf', file, 'c.json', 'manifest.json']);
    const error = await readDockerArchive(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ManifestError);
    expect((error as Error).message).toBe(`${file}: manifest.json[0]: layer gone.tar is not in the archive`);
    await expect(readDockerArchive(join(tmp.path, 'nope.tar'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('readDockerArchive and member links', () => {
  it('follows a manifest layer that is a symlink to another member, as docker save and skopeo write them', async () => {
    const dir = join(tmp.path, 'linked');
    await run('mkdir', ['-p', join(dir, 'id1'), join(dir, 'id2')]);
    const layer = await layerBytes('/l', 'linked');
    await writeFile(join(dir, 'shared.tar'), layer);
    await run('ln', ['-s', '../shared.tar', join(dir, 'id1/layer.tar')]);
    await run('ln', ['-s', '../id1/layer.tar', join(dir, 'id2/layer.tar')]);
    const diffId = sha(layer);
    await writeFile(join(dir, 'c.json'), JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId, diffId] } }));
    await writeFile(join(dir, 'manifest.json'), JSON.stringify([{ Config: 'c.json', RepoTags: ['l:1'], Layers: ['id1/layer.tar', 'id2/layer.tar'] }]));
    const file = join(tmp.path, 'linked.tar');
    await run('tar', ['-C', dir, '-cf', file, '.']);
    const [image] = (await readDockerArchive(file)).images;
    expect(image?.layers.map((l) => [l.path, l.size])).toEqual([
      ['id1/layer.tar', layer.length],
      ['id2/layer.tar', layer.length],
    ]);
    expect((await buffer(image!.layers[1]!.open())).equals(layer)).toBe(true);
  });
});
