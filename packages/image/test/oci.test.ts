import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { type TarEntry, writeTar } from '@strata/layer';
import {
  hasPeers,
  makeTempDir,
  podmanLoad,
  podmanRemove,
  podmanRun,
  run,
  skopeoInspect,
  type TempDir,
  verifyOciArchive,
  verifyOciLayout,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageOf, rawLayer } from './_tar.js';
import { type Compression, createLayer, type Image, ImageError, readImage, saveImage, writeOciArchive } from '../src/index.js';

const header = { uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1 };

/** A small runnable image: the host's static busybox, /bin/sh, and a file owned by 1000:1000. */
async function runnableImage(name: string, message: string): Promise<Image> {
  const busybox = await readFile('/bin/busybox');
  const hello = Buffer.from(`${message}\n`);
  const layers: TarEntry[][] = [
    [
      { ...header, name: 'bin/', type: 'directory', mode: 0o755, size: 0 },
      { ...header, name: 'bin/busybox', type: 'file', mode: 0o755, size: busybox.length, body: busybox },
    ],
    [
      { ...header, name: 'bin/sh', type: 'symlink', mode: 0o777, size: 0, linkname: 'busybox' },
      { ...header, name: 'etc/', type: 'directory', mode: 0o755, size: 0 },
      { ...header, name: 'etc/hello', type: 'file', mode: 0o640, size: hello.length, uid: 1000, gid: 1000, uname: 'u', gname: 'g', body: hello },
    ],
  ];
  return {
    repoTags: [`${name}:1`],
    platform: { os: 'linux', architecture: 'amd64' },
    layers: layers.map((entries, i) => createLayer({ size: writeTar(entries).size, cacheKey: `test:${name}:${i}`, open: () => writeTar(entries) })),
    config: (diffIds) =>
      Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh', '-c', 'cat /etc/hello'] }, rootfs: { type: 'layers', diff_ids: diffIds } })),
    dispose: async () => {},
  };
}

const unique = `strata-image-oci-test-${randomBytes(4).toString('hex')}`;

describe.runIf(hasPeers('podman', 'runc', 'skopeo', 'umoci', 'oci-image-tool', 'busybox'))('OCI sinks', () => {
  let tmp: TempDir;
  const loaded: string[] = [];
  beforeAll(async () => {
    tmp = await makeTempDir('strata-image-oci-');
  });
  afterAll(async () => {
    for (const image of loaded) await podmanRemove(image);
    await tmp.remove();
  });

  for (const compression of ['none', 'gzip', 'zstd'] as Compression[]) {
    it(`writes an oci-archive (${compression}) that verifies, that skopeo${compression === 'zstd' ? '' : ', umoci and oci-image-tool'} read, and that podman loads and runs`, async () => {
      const file = join(tmp.path, `${compression}.tar`);
      const image = await runnableImage(`${unique}-${compression}`, `hello ${compression}`);
      const saved = await saveImage(image, file, { format: 'oci-archive', compression });
      const [entry] = await verifyOciArchive(file);
      expect(entry!.digest).toBe(saved.manifestDigest);
      expect(entry!.annotations).toEqual({ 'io.containerd.image.name': `${unique}-${compression}:1`, 'org.opencontainers.image.ref.name': '1' });
      const suffix = compression === 'none' ? '' : compression === 'gzip' ? '+gzip' : '+zstd';
      expect(entry!.manifest.layers.map((l) => l.mediaType)).toEqual([`application/vnd.oci.image.layer.v1.tar${suffix}`, `application/vnd.oci.image.layer.v1.tar${suffix}`]);
      expect(entry!.manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
      const info = await skopeoInspect(`oci-archive:${file}`);
      expect(info.Digest).toBe(saved.manifestDigest);

      const layout = join(tmp.path, `${compression}-extracted`);
      await mkdir(layout);
      await run('tar', ['-xf', file, '-C', layout]);
      // oci-image-tool 1.0.0-rc and umoci 0.4 predate the zstd media type (umoci reads it from 0.5);
      // the zstd layout was verified above by hashing every blob, and podman runs it below.
      if (compression !== 'zstd') {
        const validated = await run('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=1', layout], { allowFailure: true });
        expect(validated.exitCode, validated.stderr + validated.stdout).toBe(0);
        const bundle = join(tmp.path, `${compression}-bundle`);
        await run('umoci', ['unpack', '--image', `${layout}:1`, bundle]);
        const owned = await lstat(join(bundle, 'rootfs/etc/hello'));
        expect([owned.uid, owned.gid, owned.mode & 0o7777]).toEqual([1000, 1000, 0o640]);
      }

      const name = await podmanLoad(file);
      loaded.push(name);
      expect(name).toBe(`localhost/${unique}-${compression}:1`);
      const ran = await podmanRun(name);
      expect(ran.stdout.trim(), ran.stderr).toBe(`hello ${compression}`);
    });
  }

  it('writes the same bytes twice, into a file as into a stream, and names every blob by its digest before the reader needs it', async () => {
    const image = await runnableImage(`${unique}-twice`, 'twice');
    for (const compression of ['none', 'gzip', 'zstd'] as Compression[]) {
      const a = join(tmp.path, `a-${compression}.tar`);
      const b = join(tmp.path, `b-${compression}.tar`);
      await saveImage(image, a, { format: 'oci-archive', compression });
      await saveImage(image, b, { format: 'oci-archive', compression });
      expect((await readFile(a)).equals(await readFile(b))).toBe(true);
      // saveImage has the archive write itself into the file; the stream takes the other path.
      expect((await buffer(writeOciArchive(image, { compression }))).equals(await readFile(a))).toBe(true);
      const members = (await run('tar', ['-tvf', a])).stdout;
      // Uncompressed layers pass once, under their position, and are linked by digest; compressed ones are spooled and named by digest.
      if (compression === 'none') expect(members).toMatch(/blobs\/sha256\/[0-9a-f]{64} -> \.\.\/\.\.\/layers\/001\.tar/);
      else expect(members).not.toMatch(/layers\//);
    }
  });

  it('writes an image read from a docker-archive (a fixed config) in both OCI forms', async () => {
    const archive = join(tmp.path, 'source.tar');
    await saveImage(await runnableImage(`${unique}-source`, 'from an archive'), archive, { compressor: 'none' });
    for (const compression of ['none', 'gzip'] as Compression[]) {
      const file = join(tmp.path, `from-archive-${compression}.tar`);
      const saved = await saveImage(await readImage(archive), file, { format: 'oci-archive', compression });
      const [entry] = await verifyOciArchive(file);
      expect(entry!.config.rootfs.diff_ids).toHaveLength(2);
      expect((await skopeoInspect(`oci-archive:${file}`)).Digest).toBe(saved.manifestDigest);
      const dir = join(tmp.path, `from-archive-${compression}`);
      expect((await saveImage(await readImage(archive), dir, { format: 'oci', compression })).imageId).toBe(saved.imageId);
    }
  });

  it('writes an OCI layout directory that skopeo and umoci read, and adds further images to it', async () => {
    const dir = join(tmp.path, 'layout');
    const first = await saveImage(await runnableImage(`${unique}-dir`, 'first'), dir, { format: 'oci', compression: 'gzip' });
    expect((await verifyOciLayout(dir)).map((i) => i.digest)).toEqual([first.manifestDigest]);
    const validated = await run('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=1', dir], { allowFailure: true });
    expect(validated.exitCode, validated.stderr + validated.stdout).toBe(0);
    expect((await skopeoInspect(`oci:${dir}:1`)).Digest).toBe(first.manifestDigest);
    const bundle = join(tmp.path, 'dir-bundle');
    await run('umoci', ['unpack', '--image', `${dir}:1`, bundle]);
    expect(await readFile(join(bundle, 'rootfs/etc/hello'), 'utf8')).toBe('first\n');

    // Another name is added; the same name again now names the new image.
    const other = await saveImage(await runnableImage(`${unique}-other`, 'other'), dir, { format: 'oci', compression: 'zstd' });
    const replaced = await saveImage(await runnableImage(`${unique}-dir`, 'replaced'), dir, { format: 'oci' });
    const images = await verifyOciLayout(dir);
    expect(images.map((i) => [i.annotations['io.containerd.image.name'], i.digest])).toEqual([
      [`${unique}-other:1`, other.manifestDigest],
      [`${unique}-dir:1`, replaced.manifestDigest],
    ]);
    expect((await readdir(join(dir, 'blobs/sha256'))).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('refuses a directory that is not a layout, and leaves nothing behind when a layer fails', async () => {
    const busy = join(tmp.path, 'busy');
    await mkdir(busy);
    await writeFile(join(busy, 'notes.txt'), 'mine');
    const image = await runnableImage(`${unique}-busy`, 'x');
    await expect(saveImage(image, busy, { format: 'oci' })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining(`${busy}: exists and is not an OCI image layout`) });
    expect(await readdir(busy)).toEqual(['notes.txt']);

    const broken: Image = {
      ...image,
      layers: [
        image.layers[0]!,
        createLayer({ size: 1024, open: () => new Readable({ read() { this.destroy(new Error('disk on fire')); } }) }),
      ],
    };
    const before = await readdir(tmp.path);
    await expect(saveImage(broken, join(tmp.path, 'never'), { format: 'oci', compression: 'gzip' })).rejects.toThrow('disk on fire');
    await expect(saveImage(broken, join(tmp.path, 'never.tar'), { format: 'oci-archive', compression: 'gzip' })).rejects.toThrow('disk on fire');
    await expect(saveImage(broken, join(tmp.path, 'never2.tar'), { format: 'oci-archive' })).rejects.toThrow('disk on fire');
    expect(await readdir(tmp.path)).toEqual(before);
    const layout = join(tmp.path, 'layout');
    const blobsBefore = await readdir(join(layout, 'blobs/sha256'));
    const indexBefore = await readFile(join(layout, 'index.json'));
    await expect(saveImage(broken, layout, { format: 'oci', compression: 'zstd' })).rejects.toThrow('disk on fire');
    expect(await readdir(join(layout, 'blobs/sha256'))).toEqual(blobsBefore);
    expect((await readFile(join(layout, 'index.json'))).equals(indexBefore)).toBe(true);
  });

  it('refuses whole-file compression for OCI output and layer compression for a docker-archive', async () => {
    const image = await runnableImage(`${unique}-opts`, 'x');
    await expect(saveImage(image, join(tmp.path, 'x.tar'), { format: 'oci-archive', compressor: 'gz' })).rejects.toBeInstanceOf(ImageError);
    await expect(saveImage(image, join(tmp.path, 'x.tar'), { compression: 'zstd' })).rejects.toThrow(/docker-archive layers are uncompressed/);
  });
});

describe('writeOciArchive', () => {
  it('reads nothing until it is read or written to a descriptor, and is written one way only', async () => {
    const layer = rawLayer([{ name: 'a', body: 'hi' }]);
    const image = imageOf([layer], ['lazy:1']);
    for (const compression of ['none', 'gzip'] as Compression[]) {
      layer.opened.count = 0;
      const archive = writeOciArchive(image, { compression });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(layer.opened.count).toBe(0);
      const streamed = await buffer(archive);
      expect(layer.opened.count).toBe(1);
      expect((await archive.image).manifest.digest).toMatch(/^sha256:/);
      await expect(archive.writeToFd(1)).rejects.toThrow('already being read');
      expect(streamed.subarray(0, 10).toString()).toBe('oci-layout');
    }
  });
});
