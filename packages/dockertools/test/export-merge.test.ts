// nixpkgs' exportImage and mergeImages tests (nixos/tests/docker-tools.nix: exportBash,
// mergedBashAndRedis, mergedBashNoTagAndRedis, mergedBashFakeRoot, mergeVaryingCompressor), ported
// to strata images built from real Nix closures and checked with the real podman, skopeo and umoci.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { type Image, readImage, saveImage, saveImages, writeDockerArchive } from '@strata/image';
import { readTar, writeTar, type TarEntry } from '@strata/layer';
import { createImageConfig, hostArchitecture, readDockerArchive, writeDockerArchive as writeArchive } from '@strata/manifest';
import {
  buildHelloClosure,
  type HelloClosure,
  hasPeers,
  makeTempDir,
  PODMAN_GLOBAL,
  podmanRemove,
  podmanRun,
  run,
  type TempDir,
  unpackImage as umociUnpack,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportImage, mergeImages, streamLayeredImage } from '../src/index.js';

interface Listed {
  readonly path: string;
  readonly type: string;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  readonly linkTarget?: string;
}

/** Every entry of a tar, its name as written and as an image path. */
async function listTar(file: string): Promise<{ names: string[]; entries: Listed[] }> {
  const names: string[] = [];
  const entries: Listed[] = [];
  for await (const m of readTar(createReadStream(file))) {
    names.push(m.name);
    const path = `/${m.name.replace(/^\.\/?/, '').replace(/\/$/, '')}`;
    const type = m.type === 'file' ? 'file' : m.type === 'directory' ? 'directory' : m.type === 'symlink' ? 'symlink' : 'other';
    entries.push({ path: path === '/' ? '/' : path, type, uid: m.uid, gid: m.gid, mode: m.mode & 0o7777, ...(m.linkname && type === 'symlink' ? { linkTarget: m.linkname } : {}) });
  }
  return { names, entries };
}

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

describe.runIf(hasPeers('nix-build', 'podman', 'skopeo', 'umoci'))('exportImage and mergeImages against the real peers', () => {
  let hello: HelloClosure;
  let other: HelloClosure;
  let third: HelloClosure;
  let dir: TempDir;
  const loaded: string[] = [];
  const unique = (what: string) => `strata-export-merge-${what}-${randomBytes(4).toString('hex')}`;

  /** A strata layered image of a hello closure with busybox at /bin, saved as an uncompressed docker-archive. */
  async function helloImage(file: string, closure: HelloClosure, name: string, extra: object = {}): Promise<string> {
    const image = await streamLayeredImage({ name, tag: '1', contents: [closure.hello, closure.busybox], config: { Cmd: [`${closure.hello}/bin/hello`] }, ...extra });
    try {
      await pipeline(writeDockerArchive(image), createWriteStream(file));
    } finally {
      await image.dispose();
    }
    return file;
  }

  async function exportTo(fromImage: string | Image, file: string): Promise<void> {
    const exported = await exportImage({ fromImage });
    try {
      await pipeline(exported.open(), createWriteStream(file));
    } finally {
      await exported.dispose();
    }
  }

  /** The flattened tree umoci unpacks from the same archive, with what it says of each path. */
  async function umociTree(archive: string): Promise<Listed[]> {
    const unpacked = await umociUnpack(`docker-archive:${archive}`);
    try {
      return unpacked.files.map((f) => ({ path: f.path, type: f.type, uid: f.uid, gid: f.gid, mode: f.mode, ...(f.linkTarget ? { linkTarget: f.linkTarget } : {}) }));
    } finally {
      await unpacked.remove();
    }
  }

  /** `podman load` of an archive: every name (or image ID) it reports loading. */
  async function podmanLoadAll(archive: string): Promise<string[]> {
    const { stdout } = await run('podman', [...PODMAN_GLOBAL, 'load', '-q', '-i', archive]);
    const names = [...stdout.matchAll(/Loaded image(?:\(s\))?:\s*(.+)/g)].flatMap((m) => m[1]!.split(',').map((n) => n.trim()));
    loaded.push(...names);
    return names;
  }

  beforeAll(async () => {
    hello = await buildHelloClosure();
    other = await buildHelloClosure({ message: 'Hello from the other image' });
    third = await buildHelloClosure({ message: 'Hello from an untagged image' });
    dir = await makeTempDir('strata-export-merge-');
  });
  afterAll(async () => {
    for (const image of loaded) await podmanRemove(image);
    await dir.remove();
  });

  it('exportBash: one sorted tar named ./, ./bin/..., the same tree umoci unpacks, the same bytes twice; podman import runs it', async () => {
    const archive = await helloImage(join(dir.path, 'hello.tar'), hello, unique('hello'), {
      fakeRootCommands: 'mkdir -p home/alice tmp; chown 1000:100 home/alice; chmod 0700 home/alice; chmod 1777 tmp',
    });
    const out = join(dir.path, 'rootfs.tar');
    await exportTo(archive, out);
    const { names, entries } = await listTar(out);
    expect(names[0]).toBe('./');
    expect(names).toContain('./bin/hello');
    expect(names).toContain('./bin/');
    expect(names.filter((n) => n.includes('.wh.'))).toEqual([]);
    // Sorted as GNU tar --sort=name sorts: each directory's names in byte order, depth first.
    const sorted = [...entries].sort((a, b) => {
      const [x, y] = [a.path.split('/'), b.path.split('/')];
      for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return Buffer.compare(Buffer.from(x[i]!), Buffer.from(y[i]!));
      return x.length - y.length;
    });
    expect(entries.map((e) => e.path)).toEqual(sorted.map((e) => e.path));
    expect(entries.find((e) => e.path === '/home/alice')).toMatchObject({ uid: 1000, gid: 100, mode: 0o700 });
    expect(entries.find((e) => e.path === '/tmp')).toMatchObject({ mode: 0o1777 });
    expect(entries).toEqual(await umociTree(archive));

    const again = join(dir.path, 'rootfs-again.tar');
    await exportTo(await readImage(archive), again);
    expect(await sha256(again)).toBe(await sha256(out));

    const name = `localhost/${unique('imported')}:1`;
    await run('podman', [...PODMAN_GLOBAL, 'import', '-q', out, name]);
    loaded.push(name);
    const ran = await podmanRun(name, ['/bin/hello']);
    expect(ran.stdout).toMatch(/^Hello, world!\n/);
    const owner = await podmanRun(name, ['/bin/busybox', 'stat', '-c', '%u:%g %a', '/home/alice']);
    expect(owner.stdout).toBe('1000:100 700\n');
  });

  it('exports an image with whiteouts and an opaque directory: hidden files are absent and no .wh. entry is left', async () => {
    const baseFile = await helloImage(join(dir.path, 'base.tar'), hello, unique('base'), { fakeRootCommands: 'mkdir -p home/alice; echo hi > home/alice/notes' });
    const base = (await readDockerArchive(baseFile)).images[0]!;
    const greeting = hello.greeting.slice(1);
    const owner = { uid: 0, gid: 0, uname: '', gname: '', mtime: 1 };
    const entries: TarEntry[] = [
      { ...owner, name: 'bin/.wh.sh', type: 'file', mode: 0o644, size: 0 },
      { ...owner, name: 'home/', type: 'directory', mode: 0o755, size: 0 },
      { ...owner, name: 'home/.wh..wh..opq', type: 'file', mode: 0o644, size: 0 },
      { ...owner, name: 'home/bob/', type: 'directory', mode: 0o750, size: 0, uid: 1001, gid: 1001 },
      { ...owner, name: 'home/bob/note', type: 'file', mode: 0o640, size: 3, uid: 1001, gid: 1001, body: Buffer.from('new') },
      { ...owner, name: `${greeting}/share/greeting/.wh.message`, type: 'file', mode: 0o644, size: 0 },
    ];
    const top = await buffer(writeTar(entries));
    const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const layers = [...base.layers, { size: top.length, diffId: sha(top), open: () => Readable.from([top]) }];
    const { rootfs: _, ...template } = createImageConfig(
      layers.map(() => ''),
      { architecture: hostArchitecture(), config: { Cmd: ['/bin/hello'] } },
    );
    const archive = join(dir.path, 'whiteouts.tar');
    await pipeline(writeArchive(layers, template, { repoTags: [`${unique('whiteouts')}:1`] }), createWriteStream(archive));

    const out = join(dir.path, 'whiteouts-rootfs.tar');
    await exportTo(archive, out);
    const { names, entries: exported } = await listTar(out);
    expect(names.filter((n) => n.includes('.wh.'))).toEqual([]);
    const paths = exported.map((e) => e.path);
    expect(paths).not.toContain('/bin/sh');
    expect(paths).not.toContain('/home/alice');
    expect(paths).not.toContain(`/${greeting}/share/greeting/message`);
    expect(paths).toContain(`/${greeting}/share/greeting/message-hardlink`);
    expect(exported.find((e) => e.path === '/home/bob/note')).toMatchObject({ uid: 1001, gid: 1001, mode: 0o640 });
    expect(exported).toEqual(await umociTree(archive));
  });

  it('mergedBashAndRedis / mergedBashNoTagAndRedis: every image loads with its tags, an untagged one by its ID, shared layers stored once', async () => {
    const one = await helloImage(join(dir.path, 'one.tar'), hello, unique('one'));
    const two = await helloImage(join(dir.path, 'two.tar'), other, unique('two'));
    const [first] = (await readDockerArchive(one)).images;
    const twoImage = (await readDockerArchive(two)).images[0]!;
    // An untagged image (as `docker save IMAGE_ID` writes one): no RepoTags at all.
    const untagged = join(dir.path, 'untagged.tar');
    const thirdImage = (await readDockerArchive(await helloImage(join(dir.path, 'third.tar'), third, unique('third')))).images[0]!;
    await pipeline(writeArchive(thirdImage.layers, () => thirdImage.configBytes, { repoTags: [] }), createWriteStream(untagged));

    const merged = await mergeImages([one, two, untagged]);
    expect(merged.compressor).toBe('none'); // the last input's, as nixpkgs does
    const out = join(dir.path, 'merged.tar');
    const saved = await saveImages(merged.images, out, { compressor: merged.compressor });
    await merged.dispose();
    expect(saved.map((s) => s.repoTags)).toEqual([first!.repoTags, twoImage.repoTags, []]);

    const { stdout: members } = await run('tar', ['-tf', out]);
    const distinct = new Set([...merged.images.flatMap((i) => i.layers.map((l) => l.diffId))]);
    expect(members.split('\n').filter((m) => m.startsWith('layers/'))).toHaveLength(distinct.size);

    const names = await podmanLoadAll(out);
    expect(names).toEqual(expect.arrayContaining([`localhost/${first!.repoTags[0]}`, `localhost/${twoImage.repoTags[0]}`]));
    expect((await podmanRun(first!.repoTags[0]!)).stdout).toMatch(/^Hello, world!\n/);
    expect((await podmanRun(twoImage.repoTags[0]!)).stdout).toMatch(/^Hello from the other image\n/);
    // podman knows the untagged image by its ID only.
    expect(saved[2]!.imageId).toBe(thirdImage.configDigest);
    loaded.push(thirdImage.configDigest.slice(7));
    expect((await podmanRun(thirdImage.configDigest.slice(7))).stdout).toMatch(/^Hello from an untagged image\n/);
  });

  it('mergedBashFakeRoot: owners set by fakeRootCommands survive the merge', async () => {
    const name = unique('fakeroot');
    const owned = await helloImage(join(dir.path, 'owned.tar'), hello, name, { fakeRootCommands: 'mkdir -p home/alice; chown 1000:1000 home/alice' });
    const merged = await mergeImages([owned, await helloImage(join(dir.path, 'plain.tar'), other, unique('plain'))]);
    const out = join(dir.path, 'merged-fakeroot.tar');
    try {
      await saveImages(merged.images, out, { compressor: 'none' });
    } finally {
      await merged.dispose();
    }
    await podmanLoadAll(out);
    expect((await podmanRun(`${name}:1`, ['/bin/busybox', 'stat', '-c', '%u:%g', '/home/alice'])).stdout).toBe('1000:1000\n');
  });

  it('mergeVaryingCompressor: gz, plain and zstd inputs all load from the merged archive', async () => {
    const names = [unique('gz'), unique('none'), unique('zstd')];
    const inputs: string[] = [];
    for (const [i, compressor] of (['gz', 'none', 'zstd'] as const).entries()) {
      const image = await streamLayeredImage({ name: names[i]!, tag: '1', contents: [i === 1 ? other.hello : hello.hello, hello.busybox] });
      const file = join(dir.path, `varying-${i}.tar${compressor === 'gz' ? '.gz' : compressor === 'zstd' ? '.zst' : ''}`);
      try {
        await saveImage(image, file, { compressor });
      } finally {
        await image.dispose();
      }
      inputs.push(file);
    }
    const merged = await mergeImages(inputs);
    expect(merged.compressor).toBe('zstd');
    const out = join(dir.path, 'merged-varying.tar');
    try {
      await saveImages(merged.images, out, { compressor: 'none' }); // podman 4.3 loads plain archives only
    } finally {
      await merged.dispose();
    }
    const loadedNames = await podmanLoadAll(out);
    expect(loadedNames.sort()).toEqual(names.map((n) => `localhost/${n}:1`).sort());
    expect((await podmanRun(`${names[2]}:1`, ['/bin/busybox', 'true'])).exitCode).toBe(0);
  });
});
