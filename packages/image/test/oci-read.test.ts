import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { hasPeers, makeTempDir, run, skopeoInspect, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOciImage, saveImage, storedManifest, uncompressedImage } from '../src/index.js';
import { imageOf, rawLayer } from './_tar.js';

describe.runIf(hasPeers('skopeo'))('readOciImage, on layouts skopeo writes', () => {
  let dir: TempDir;
  let archive: string;
  let imageId: string;
  beforeAll(async () => {
    dir = await makeTempDir('strata-oci-read-');
    archive = join(dir.path, 'image.tar');
    const image = imageOf(
      [rawLayer([{ name: 'etc/', type: '5' }, { name: 'etc/greeting', body: 'hello\n' }]), rawLayer([{ name: 'bin/', type: '5' }, { name: 'bin/tool', body: '#!/bin/sh\n', mode: 0o755 }])],
      ['oci/test:v1'],
    );
    imageId = (await saveImage(image, archive, { compressor: 'none' })).imageId;
    // Two images under two names, gzip layers, as a directory and as an archive.
    await run('skopeo', ['--insecure-policy', 'copy', `docker-archive:${archive}`, `oci:${join(dir.path, 'layout')}:v1`]);
    await run('skopeo', ['--insecure-policy', 'copy', '--dest-oci-accept-uncompressed-layers', `docker-archive:${archive}`, `oci:${join(dir.path, 'layout')}:plain`]);
    await run('skopeo', ['--insecure-policy', 'copy', `docker-archive:${archive}`, `oci-archive:${join(dir.path, 'image.oci.tar')}:v1`]);
  });
  afterAll(async () => {
    await dir.remove();
  });

  it('reads a named image of a layout: the manifest skopeo wrote, the same image ID, layers that verify', async () => {
    const layout = join(dir.path, 'layout');
    const { image, manifest } = await readOciImage(layout, { name: 'v1' });
    const info = await skopeoInspect(`oci:${layout}:v1`);
    expect(manifest.digest).toBe(info.Digest);
    expect(image.layers.map((l) => l.compression)).toEqual(['gzip', 'gzip']);
    const stored = await storedManifest(image);
    expect(stored.config.digest).toBe(imageId);
    // Back to a docker-archive: plain layers whose diffIDs are the original ones.
    const plain = await uncompressedImage(image);
    try {
      const saved = await saveImage(plain, join(dir.path, 'back.tar'), { compressor: 'none' });
      expect(saved.imageId).toBe(imageId);
    } finally {
      await plain.dispose();
    }
  });

  it('reads an OCI archive, and an uncompressed image of the same layout by its other name', async () => {
    const fromArchive = await readOciImage(join(dir.path, 'image.oci.tar'));
    expect((await storedManifest(fromArchive.image)).config.digest).toBe(imageId);
    const plain = await readOciImage(join(dir.path, 'layout'), { name: 'plain' });
    expect(plain.image.layers.map((l) => l.compression)).toEqual(['none', 'none']);
    expect(plain.manifest.digest).not.toBe(fromArchive.manifest.digest);
  });

  it('asks for a name when the layout holds several images, and lists them for a wrong one', async () => {
    await expect(readOciImage(join(dir.path, 'layout'))).rejects.toThrow(/holds 2 images \(v1, plain\); name one/);
    await expect(readOciImage(join(dir.path, 'layout'), { name: 'v2' })).rejects.toThrow(/no image "v2" \(it has v1, plain\)/);
  });

  it('refuses a blob that links out of the layout, and fails a layer whose bytes were changed', async () => {
    const copy = join(dir.path, 'tampered');
    await run('cp', ['-r', join(dir.path, 'layout'), copy]);
    const { image } = await readOciImage(copy, { name: 'plain' });
    const first = image.layers[0]!.digest!.slice('sha256:'.length);
    const blob = join(copy, 'blobs/sha256', first);
    const bytes = await readFile(blob);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1024) ^ 1, bytes.length - 1024);
    await writeFile(blob, bytes);
    await expect(buffer(image.layers[0]!.open())).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    await rm(blob);
    await mkdir(join(dir.path, 'elsewhere'), { recursive: true });
    await writeFile(join(dir.path, 'elsewhere', 'x'), bytes);
    await symlink(join(dir.path, 'elsewhere', 'x'), blob);
    await expect(readOciImage(copy, { name: 'plain' })).rejects.toMatchObject({ code: 'UNSAFE_ENTRY' });
    expect((await readdir(join(dir.path, 'elsewhere'))).length).toBe(1);
  });
});
