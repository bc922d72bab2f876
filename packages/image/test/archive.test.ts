import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { INLINE, writeTar } from '@strata/layer';
import { createImageConfig, writeDockerArchive as writeArchive } from '@strata/manifest';
import { hasPeers, makeTempDir, run, skopeoInspect, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLayer, createLayerBlob, type Image, ImageError, readImage, saveImage, writeDockerArchive } from '../src/index.js';

let tmp: TempDir;
beforeAll(async () => {
  tmp = await makeTempDir('strata-image-');
});
afterAll(() => tmp.remove());

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function layerTar(name: string, content: string): Promise<Buffer> {
  const bytes = Buffer.from(content);
  return buffer(writeTar([{ name, type: 'file', mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1, size: bytes.length, body: bytes }]));
}

function template(layers: number, env: string[] = []) {
  const { rootfs: _, ...rest } = createImageConfig(Array(layers).fill('x'), { architecture: 'amd64', config: { Cmd: ['/a'], Env: env } });
  return rest;
}

/** Writes a docker-archive whose layers are `tars` (stored as given: plain or gzip). */
async function archiveOf(file: string, tars: readonly Buffer[], repoTags = ['base:1'], diffIds?: readonly string[]): Promise<string> {
  const ids = diffIds ?? tars.map((t) => (t[0] === 0x1f ? sha(gunzipSync(t)) : sha(t)));
  const layers = tars.map((t, i) => ({ size: t.length, diffId: ids[i]!, open: () => Readable.from([t]) }));
  await pipeline(writeArchive(layers, template(tars.length, ['A=1']), { repoTags }), createWriteStream(file));
  return file;
}

describe('readImage and writeDockerArchive', () => {
  it('round-trips an archive: the same config bytes (image ID) and layer bytes, each layer read once', async () => {
    const tars = [await layerTar('a', 'first'), gzipSync(await layerTar('b', 'second'))];
    const file = await archiveOf(join(tmp.path, 'round.tar'), tars);
    const image = await readImage(file);
    expect(image.repoTags).toEqual(['base:1']);
    expect(image.platform).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(image.layers.map((l) => l.compression)).toEqual(['none', 'gzip']);
    const out = join(tmp.path, 'round-out.tar');
    const archive = writeDockerArchive(image);
    await pipeline(archive, createWriteStream(out));
    const again = await readImage(out);
    expect((await archive.config).digest).toBe(sha(again.config(again.layers.map((l) => l.diffId!))));
    expect(again.config(again.layers.map((l) => l.diffId!)).equals(image.config(image.layers.map((l) => l.diffId!)))).toBe(true);
    for (const [i, layer] of again.layers.entries()) expect((await buffer(layer.open())).equals(tars[i]!)).toBe(true);
  });

  it.runIf(hasPeers('skopeo'))('writes an archive skopeo reads, with the diffIDs of the layers', async () => {
    const tars = [await layerTar('a', 'one'), await layerTar('b', 'two')];
    const image = await readImage(await archiveOf(join(tmp.path, 'sk.tar'), tars));
    const out = join(tmp.path, 'sk-out.tar');
    await pipeline(writeDockerArchive(image), createWriteStream(out));
    const info = await skopeoInspect(`docker-archive:${out}`);
    expect(info.Layers).toEqual(tars.map(sha));
  });

  it('refuses an archive whose manifest.json lists no image', async () => {
    const file = join(tmp.path, 'empty.tar');
    await writeFile(file, await buffer(writeTar([{ name: 'manifest.json', type: 'file', mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: 1, size: 2, body: Buffer.from('[]') }])));
    await expect(readImage(file)).rejects.toMatchObject({ code: 'INVALID_IMAGE', message: `${file}: manifest.json lists no image` });
  });

  it('refuses diff_ids that are not digests, naming the entry', async () => {
    const file = await archiveOf(join(tmp.path, 'notdigest.tar'), [await layerTar('a', 'x')], ['bad:1'], ['sha256:nope']);
    await expect(readImage(file)).rejects.toMatchObject({ code: 'INVALID_IMAGE', message: expect.stringContaining('rootfs.diff_ids[0] is not a sha256 digest') });
  });

  it('fails a sink naming the layer whose bytes contradict the diffID, and saveImage leaves no file', async () => {
    const tars = [await layerTar('a', 'good'), await layerTar('b', 'tampered')];
    const lie = `sha256:${'4'.repeat(64)}`;
    const file = await archiveOf(join(tmp.path, 'lie.tar'), tars, ['lie:1'], [sha(tars[0]!), lie]);
    const image = await readImage(file);
    const error = await buffer(writeDockerArchive(image)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageError);
    expect((error as ImageError).message).toBe(`${file}: lie:1: layer 2 (layers/002.tar): its bytes hash to ${sha(tars[1]!)}, but the image declares diffID ${lie}`);
    const dir = join(tmp.path, 'save');
    await run('mkdir', ['-p', dir]);
    await expect(saveImage(image, join(dir, 'out.tar'), { compressor: 'none' })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(await readdir(dir)).toEqual([]);
  });

  it('picks an image of a multi-image archive by name and tag, and lists the tags when there is no such image', async () => {
    const file = join(tmp.path, 'multi.tar');
    const a = await layerTar('a', 'a');
    const b = await layerTar('b', 'b');
    const entry = (tags: string[], tar: Buffer) => ({ tags, tar });
    // Two images in one archive, written member by member as docker save would.
    const images = [entry(['first:1'], a), entry(['second:2'], b)];
    const members: Parameters<typeof writeTar>[0] & unknown[] = [];
    const manifest: unknown[] = [];
    for (const [i, img] of images.entries()) {
      const config = Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha(img.tar)] } }));
      const header = { type: 'file' as const, mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: 1 };
      members.push({ ...header, name: `l${i}.tar`, size: img.tar.length, body: img.tar }, { ...header, name: `c${i}.json`, size: config.length, body: config });
      manifest.push({ Config: `c${i}.json`, RepoTags: img.tags, Layers: [`l${i}.tar`] });
    }
    const m = Buffer.from(JSON.stringify(manifest));
    members.push({ type: 'file', mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: 1, name: 'manifest.json', size: m.length, body: m });
    await writeFile(file, await buffer(writeTar(members)));
    expect((await readImage(file)).repoTags).toEqual(['first:1']);
    expect((await readImage(file, { name: 'first' })).repoTags).toEqual(['first:1']); // a name alone selects nothing, as in nixpkgs
    const second: Image = await readImage(file, { name: 'second', tag: '2' });
    expect(second.repoTags).toEqual(['second:2']);
    expect((await buffer(second.layers[0]!.open())).equals(b)).toBe(true);
    await expect(readImage(file, { name: 'third', tag: '3' })).rejects.toMatchObject({ code: 'INVALID_IMAGE', message: `${file}: no image third:3 (the archive has first:1, second:2)` });
  });

  it('writes an image of plain layers without reading any of them before the sink pulls', async () => {
    let opened = 0;
    const tar = await layerTar('x', 'lazy');
    const layer = createLayer({ size: tar.length, open: () => {
        opened++;
        return Readable.from([tar]);
      }, });
    const image: Image = {
      repoTags: ['lazy:1'],
      platform: { os: 'linux', architecture: 'amd64' },
      layers: [layer],
      config: (ids) => Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: ids } })),
      dispose: async () => {},
    };
    const archive = writeDockerArchive(image);
    expect(opened).toBe(0);
    const file = join(tmp.path, 'lazy.tar');
    await pipeline(archive, createWriteStream(file));
    expect(opened).toBe(1);
    expect(layer.diffId).toBe(sha(tar));
    const manifest = JSON.parse((await run('tar', ['-xOf', file, 'manifest.json'])).stdout) as { Config: string }[];
    const config = JSON.parse((await run('tar', ['-xOf', file, manifest[0]!.Config])).stdout) as { rootfs: { diff_ids: string[] } };
    expect(config.rootfs.diff_ids).toEqual([sha(tar)]);
    expect((await readFile(file)).length).toBe(archive.size);
  });

  describe('a plain layer of an archive, read in place by a sink', () => {
    // Several gzip blocks' worth, so the in-place reads span block boundaries and waits.
    const big = (seed: number) => Buffer.concat(Array.from({ length: 60_000 }, (_, i) => Buffer.from(`${seed} line ${i} ${(i * 2654435761) % 99991}\n`)));

    it.each([
      ['a plain archive file (read by path)', false],
      ['a gzip archive file (read from its temporary copy)', true],
    ])('offers the in-place path in %s, and gzips to the same bytes and digests as the stream path', async (_, compressed) => {
      const tars = [big(1), big(2)];
      let file = await archiveOf(join(tmp.path, `inline-${compressed}.tar`), tars);
      if (compressed) {
        await writeFile(`${file}.gz`, gzipSync(await readFile(file)));
        file = `${file}.gz`;
      }
      const image = await readImage(file);
      expect(INLINE in image.layers[0]!.open()).toBe(true);
      for (const [i, layer] of image.layers.entries()) {
        const blob = await createLayerBlob(layer, { compression: 'gzip' });
        const stream = blob.open();
        const inPlace = await buffer(stream);
        // The same layer fed through the Transform (a layer that is not offered in place).
        const streamed = createLayer({ size: tars[i]!.length, diffId: sha(tars[i]!), open: () => Readable.from([tars[i]!]) });
        const fromStream = await buffer((await createLayerBlob(streamed, { compression: 'gzip' })).open());
        expect(inPlace.equals(fromStream)).toBe(true);
        expect(gunzipSync(inPlace).equals(tars[i]!)).toBe(true);
        expect(await (stream as unknown as { diffId: Promise<string> }).diffId).toBe(sha(tars[i]!));
        expect(layer.diffId).toBe(sha(tars[i]!));
      }
      await image.dispose();
    });

    it('fails the gzip stream naming the layer when the bytes read in place contradict the diffID', async () => {
      const tars = [big(3)];
      const lie = `sha256:${'5'.repeat(64)}`;
      const file = await archiveOf(join(tmp.path, 'inline-lie.tar'), tars, ['lie:2'], [lie]);
      const image = await readImage(file);
      const error = await buffer((await createLayerBlob(image.layers[0]!, { compression: 'gzip' })).open()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ImageError);
      expect((error as ImageError).message).toBe(`${file}: lie:2: layer 1 (layers/001.tar): its bytes hash to ${sha(tars[0]!)}, but the image declares diffID ${lie}`);
    });

    it('is read once either way: streamed first, it is no longer offered in place', async () => {
      const tars = [big(4)];
      const image = await readImage(await archiveOf(join(tmp.path, 'inline-once.tar'), tars));
      const stream = image.layers[0]!.open() as unknown as Readable & { [INLINE]: (sink: unknown) => Promise<void> | undefined };
      const bytes = await buffer(stream);
      expect(bytes.equals(tars[0]!)).toBe(true);
      expect(stream[INLINE]({})).toBeUndefined();
    });
  });
});
