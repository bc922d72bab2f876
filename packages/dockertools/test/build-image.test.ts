import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type Image, readImage, writeDockerArchive } from '@strata/image';
import { VmTimeoutError } from '@strata/vm';
import {
  buildNix,
  hasPeers,
  makeTempDir,
  podmanInspect,
  podmanLoad,
  podmanRemove,
  podmanRun,
  run,
  type TempDir,
  unpackImage,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, DockerToolsError } from '../src/index.js';

/**
 * A busybox whose `bin/sh` is an absolute link to its own busybox (so its files refer to its store
 * path, as bash's do), and a buildEnv-like root whose `bin` links to that bin directory, as buildEnv
 * makes for a directory only one package has.
 */
const ENV = `let
  sh = name: script: derivation { inherit name; system = builtins.currentSystem; builder = "/bin/sh"; PATH = "/usr/bin:/bin"; args = [ "-c" script ]; };
  busybox = sh "busybox-selfref" "mkdir -p $out/bin && cp /bin/busybox $out/bin/busybox && ln -s $out/bin/busybox $out/bin/sh";
in { inherit busybox; env = sh "image-root" "mkdir $out && ln -s ${'$'}{busybox}/bin $out/bin"; }`;

interface Member {
  readonly type: string;
  readonly mode: string;
  readonly owner: string;
  readonly size: number;
  readonly name: string;
  readonly link?: string;
}

/** The members of the image's last layer, as GNU tar lists them. */
async function lastLayer(archive: string): Promise<Member[]> {
  const manifest = JSON.parse((await run('tar', ['-xOf', archive, 'manifest.json'])).stdout) as { Layers: string[] }[];
  const member = manifest[0]!.Layers.at(-1)!;
  const { stdout } = await run('bash', ['-c', `tar -xOf '${archive}' '${member}' | tar -tvf -`]);
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [mode, owner, size, , , ...rest] = line.split(/\s+/);
      const text = rest.join(' ');
      const hard = / link to /.exec(text);
      const soft = / -> /.exec(text);
      const name = hard ? text.slice(0, hard.index) : soft ? text.slice(0, soft.index) : text;
      const link = hard ? text.slice(hard.index + 9) : soft ? text.slice(soft.index + 4) : undefined;
      return { type: mode![0]!, mode: mode!.slice(1), owner: owner!, size: Number(size), name, ...(link === undefined ? {} : { link }) };
    });
}

/** Runs `fn` with os.tmpdir() pointing at `dir` (where builders make their working directories). */
async function withTmpdir<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  try {
    return await fn();
  } finally {
    // Assigning undefined would set the string "undefined".
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
}

describe.runIf(hasPeers('nix-build', 'podman', 'skopeo', 'umoci'))('buildImage as a library', () => {
  let busybox: string;
  let env: string;
  let dir: TempDir;
  const loaded: string[] = [];
  const unique = () => `strata-build-image-lib-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    [busybox] = (await buildNix(ENV, { attr: 'busybox' })) as [string];
    [env] = (await buildNix(ENV, { attr: 'env' })) as [string];
    dir = await makeTempDir('strata-build-image-test-');
  });
  afterAll(async () => {
    for (const image of loaded) await podmanRemove(image);
    await dir.remove();
  });

  async function save(image: Image, file: string): Promise<string> {
    try {
      await pipeline(writeDockerArchive(image), createWriteStream(file));
    } finally {
      await image.dispose();
    }
    return file;
  }

  it('writes an image podman runs; a copyToRoot file that is also in the store is stored once, as a hard link', async () => {
    const name = unique();
    const image = await buildImage({ name, tag: 'v1', copyToRoot: env, config: { Cmd: ['/bin/sh', '-c', 'echo $((6 * 7))'] } });
    expect(image.imageTag).toBe('v1');
    expect(image.layers).toHaveLength(1);
    const archive = await save(image, join(dir.path, 'hello.tar'));
    const members = await lastLayer(archive);
    const stored = `./nix/store/${busybox.slice(11)}/bin/busybox`;
    // rsync -k made /bin a real directory holding a copy of busybox: the store copy links to it.
    expect(members.find((m) => m.name === './bin/')).toMatchObject({ type: 'd', mode: 'r-xr-xr-x' });
    expect(members.find((m) => m.name === './bin/busybox')).toMatchObject({ type: '-', owner: '0/0' });
    expect(members.find((m) => m.name === stored)).toMatchObject({ type: 'h', link: './bin/busybox', size: 0 });
    expect(members.find((m) => m.name === './bin/sh')).toMatchObject({ type: 'l', link: `${busybox}/bin/busybox` });
    const busyboxSize = (await lstat(join(busybox, 'bin/busybox'))).size;
    expect(image.layers[0]!.size).toBeLessThan(busyboxSize * 1.2);

    loaded.push(`${name}:v1`);
    expect(await podmanLoad(archive)).toBe(`localhost/${name}:v1`);
    expect((await podmanRun(`${name}:v1`)).stdout).toBe('42\n');
    const inodes = await podmanRun(`${name}:v1`, ['/bin/sh', '-c', `stat -c %i:%h /bin/busybox ${stored.slice(1)}`]);
    const [a, b] = inodes.stdout.trim().split('\n');
    expect(a).toMatch(/^\d+:2$/);
    expect(b).toBe(a);
    const inspect = await podmanInspect(`${name}:v1`);
    expect(inspect.Created).toMatch(/^1970-01-01T00:00:01/);

    // umoci (through skopeo) unpacks the hard link as a second name of one file too.
    const unpacked = await unpackImage(`docker-archive:${archive}`);
    try {
      const [x, y] = await Promise.all([lstat(join(unpacked.rootfs, 'bin/busybox')), lstat(join(unpacked.rootfs, stored))]);
      expect(y.ino).toBe(x.ino);
      expect(x.size).toBe(busyboxSize);
    } finally {
      await unpacked.remove();
    }
  });

  it('rebuilds the same bytes, and derives a default tag that follows what the new layer holds', async () => {
    const local = join(dir.path, 'local');
    await mkdir(local, { recursive: true });
    await writeFile(join(local, 'data'), 'aaaa');
    const build = async (extra: object = {}) => {
      const image = await buildImage({ name: 'Tagless', copyToRoot: [env, local], ...extra });
      const cacheKey = image.layers.at(-1)!.cacheKey;
      const file = await save(image, join(dir.path, `tagless-${randomBytes(4).toString('hex')}.tar`));
      return { tag: image.imageTag, repoTags: image.repoTags, bytes: await readFile(file), cacheKey };
    };
    const first = await build();
    expect(first.tag).toMatch(/^[0-9a-f]{32}$/);
    expect(first.repoTags).toEqual([`tagless:${first.tag}`]);
    const second = await build();
    expect(second.tag).toBe(first.tag);
    expect(second.bytes.equals(first.bytes)).toBe(true);
    // The layer cache knows the layer by its inputs, before any byte is read.
    expect(first.cacheKey).toMatch(/^buildimage-\d+:sha256:[0-9a-f]{64}$/);
    expect(second.cacheKey).toBe(first.cacheKey);
    await writeFile(join(local, 'data'), 'bbbb'); // same size, other content
    const changed = await build();
    expect(changed.tag).not.toBe(first.tag);
    expect(changed.cacheKey).not.toBe(first.cacheKey);
    expect((await build({ uid: 1000 })).tag).not.toBe(changed.tag);
    expect((await build({ created: 'now' })).tag).toBe((await build({ created: 'now' })).tag);
  });

  it('leaves out of the new layer the store files the base image already holds, as nixpkgs diffs them', async () => {
    const baseFile = await save(await buildImage({ name: 'base', tag: 't', copyToRoot: env }), join(dir.path, 'diff-base.tar'));
    const stored = `./nix/store/${busybox.slice(11)}/`;
    expect((await lastLayer(baseFile)).some((m) => m.name === stored)).toBe(true);
    const child = await save(await buildImage({ name: 'child', tag: 't', fromImage: baseFile, copyToRoot: env, extraCommands: 'echo child > marker' }), join(dir.path, 'diff-child.tar'));
    const names = (await lastLayer(child)).map((m) => m.name);
    expect(names).toContain('./marker');
    expect(names).toContain('./bin/busybox');
    expect(names.filter((n) => n.startsWith('./nix/'))).toEqual([]);
  });

  it('copies what links to directories point at (rsync -k), or keeps the links with keepContentsDirlinks (rsync -K)', async () => {
    const item = join(dir.path, 'dirlinks');
    await mkdir(join(item, 'real'), { recursive: true });
    await writeFile(join(item, 'real/file'), 'content\n');
    await symlink('real', join(item, 'alias'));
    await symlink('real/file', join(item, 'file-link'));
    const listing = async (keepContentsDirlinks: boolean) =>
      lastLayer(await save(await buildImage({ name: 'dirlinks', tag: 't', copyToRoot: item, keepContentsDirlinks }), join(dir.path, `dirlinks-${keepContentsDirlinks}.tar`)));
    const copied = await listing(false);
    expect(copied.find((m) => m.name === './alias/')).toMatchObject({ type: 'd' });
    // The copy has the same bytes as ./real/file: stored once (the first name in order holds them).
    expect(copied.find((m) => m.name === './alias/file')).toMatchObject({ type: '-', size: 8 });
    expect(copied.find((m) => m.name === './real/file')).toMatchObject({ type: 'h', link: './alias/file' });
    expect(copied.find((m) => m.name === './file-link')).toMatchObject({ type: 'l', link: 'real/file' });
    const kept = await listing(true);
    expect(kept.find((m) => m.name === './alias')).toMatchObject({ type: 'l', link: 'real' });
    expect(kept.some((m) => m.name.startsWith('./alias/'))).toBe(false);
  });

  it('gives the copyToRoot files the owner uid/gid, and the store paths root', async () => {
    const image = await buildImage({ name: 'owners', tag: 't', copyToRoot: env, uid: 1000, gid: 100, extraCommands: 'mkdir -p home/u; echo "(quoted)" > home/u/note' });
    const members = await lastLayer(await save(image, join(dir.path, 'owners.tar')));
    expect(members.find((m) => m.name === './')).toMatchObject({ owner: '1000/100' });
    expect(members.find((m) => m.name === './home/u/note')).toMatchObject({ owner: '1000/100', size: 9 });
    expect(members.find((m) => m.name === './nix/store/')).toMatchObject({ owner: '0/0', mode: 'r-xr-xr-x' });
    // Owners differ, so the two busybox files cannot be one file.
    expect(members.filter((m) => m.name.endsWith('/bin/busybox')).map((m) => m.type)).toEqual(['-', '-']);
  });

  it('takes the deprecated contents with a notice, refuses contents with copyToRoot, and leaves nothing behind', async () => {
    const tmp = join(dir.path, 'tmp');
    await mkdir(tmp);
    await withTmpdir(tmp, async () => {
      const notices: string[] = [];
      const image = await buildImage({ name: 'old', tag: 't', contents: env, onNotice: (m) => notices.push(m) });
      await image.dispose();
      expect(notices).toEqual(['buildImage: contents is deprecated; use copyToRoot (the same: the items are copied to /)']);
      await expect(buildImage({ name: 'x', contents: env, copyToRoot: env })).rejects.toSatisfy(
        (e: unknown) => e instanceof DockerToolsError && e.code === 'INVALID_OPTION' && e.message.startsWith('options.contents: '),
      );
      await expect(buildImage({ name: 'x', copyToRoot: join(dir.path, 'missing') })).rejects.toThrow(`copyToRoot: ${join(dir.path, 'missing')} does not exist`);
      await expect(buildImage({ name: 'x', copyToRoot: env, extraCommands: 'echo oops >&2; exit 3' })).rejects.toThrow(/extraCommands failed \(exit 3\):\noops/);
      expect(await readdir(tmp)).toEqual([]);
    });
  });
});

describe.runIf(hasPeers('nix-build', 'podman', 'qemu-system-x86_64', 'busybox', 'getfattr', 'setfattr'))('buildImage with runAsRoot, as a library', () => {
  let busybox: string;
  let env: string;
  let dir: TempDir;
  const loaded: string[] = [];

  beforeAll(async () => {
    [busybox] = (await buildNix(ENV, { attr: 'busybox' })) as [string];
    [env] = (await buildNix(ENV, { attr: 'env' })) as [string];
    dir = await makeTempDir('strata-build-image-vm-test-');
  });
  afterAll(async () => {
    for (const image of loaded) await podmanRemove(image);
    await dir.remove();
  });

  it('runs the script over a base image value; podman runs the result, with the owners the script set', async () => {
    const baseFile = join(dir.path, 'base.tar');
    const base = await buildImage({ name: 'vm-base', tag: 't', copyToRoot: env, extraCommands: 'mkdir -p srv && echo old > srv/old' });
    await pipeline(writeDockerArchive(base), createWriteStream(baseFile));
    await base.dispose();
    const name = `strata-build-image-lib-vm-${randomBytes(4).toString('hex')}`;
    const notices: string[] = [];
    const image = await buildImage({
      name,
      tag: 'v1',
      fromImage: await readImage(baseFile),
      runAsRoot: `#!${busybox}/bin/sh\nrm /srv/old\nmkdir /srv/new && chown 4242:42 /srv/new\necho "ran as $(id -u)"`,
      config: { Cmd: ['/bin/sh', '-c', 'ls /srv; stat -c %u:%g /srv/new'] },
      onNotice: (m) => notices.push(m),
    });
    expect(notices).toEqual(['ran as 0']);
    const file = join(dir.path, 'vm.tar');
    await pipeline(writeDockerArchive(image), createWriteStream(file));
    await image.dispose();
    loaded.push(await podmanLoad(file));
    expect((await podmanRun(`${name}:v1`)).stdout).toBe('new\n4242:42\n');
  });

  it('shows what a script printed before it ran out of time, and leaves nothing behind', async () => {
    const tmp = join(dir.path, 'tmp');
    await mkdir(tmp);
    await withTmpdir(tmp, async () => {
      const notices: string[] = [];
      const error = await buildImage({ name: 'slow', copyToRoot: env, runAsRoot: 'echo "started (slowly)"; sleep 600', vm: { timeoutMs: 60_000 }, onNotice: (m) => notices.push(m) }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(VmTimeoutError);
      expect(notices).toEqual(['runAsRoot printed:\nstarted (slowly)']);
      expect(await readdir(tmp)).toEqual([]);
    });
  });
});
