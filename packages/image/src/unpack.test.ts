import { lstat, mkdir, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { makeTempDir, type TempDir } from '@strata/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { imageOf, type RawEntry, rawLayer, rawTar, sha256 } from '../test/_tar.js';
import { ImageError } from './errors.js';
import { createLayer } from './layer.js';
import { listImagePaths, unpackImage } from './unpack.js';

let tmp: TempDir;
let root: string;
let outside: string;
beforeEach(async () => {
  tmp = await makeTempDir('strata-unpack-');
  root = join(tmp.path, 'root');
  outside = join(tmp.path, 'outside');
  await mkdir(outside);
  await writeFile(join(outside, 'secret'), 'untouched');
});
afterEach(() => tmp.remove());

/** Every path below `dir` on disk: `path` for a file (its content), `path/` for a directory, `path -> target` for a link. */
async function onDisk(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const path = `${rel}/${name}`;
    const st = await lstat(join(dir, path));
    if (st.isDirectory()) out.push(`${path}/`, ...(await onDisk(dir, path)));
    else if (st.isSymbolicLink()) out.push(`${path} -> ${await readlink(join(dir, path))}`);
    else out.push(`${path}=${await readFile(join(dir, path), 'utf8')}`);
  }
  return out;
}

/** The outside directory is as the test made it, and the temp dir holds nothing but it and the root. */
async function expectOutsideUntouched(): Promise<void> {
  expect(await onDisk(outside)).toEqual(['/secret=untouched']);
  expect((await readdir(tmp.path)).sort()).toEqual(['outside', 'root']);
}

const dir = (name: string, extra: Partial<RawEntry> = {}): RawEntry => ({ name, type: '5', ...extra });
const file = (name: string, body: string, extra: Partial<RawEntry> = {}): RawEntry => ({ name, body, ...extra });
const symlink = (name: string, linkname: string): RawEntry => ({ name, type: '2', linkname, mode: 0o777 });

/** Unpacks into a fresh root and returns the error it fails with. */
async function unpackError(layers: RawEntry[][]): Promise<ImageError> {
  await rm(root, { recursive: true, force: true });
  const error = await unpackImage(imageOf(layers.map((l) => rawLayer(l))), root).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ImageError);
  return error as ImageError;
}

describe('unpackImage', () => {
  it('applies layers in order: later layers win, directories merge, a file replaces a directory tree', async () => {
    const tree = await unpackImage(
      imageOf([
        rawLayer([dir('./'), dir('./etc/'), file('./etc/os', 'one'), dir('./opt/'), file('./opt/x', 'x'), file('keep', 'k')]),
        rawLayer([dir('etc/', { mode: 0o750 }), file('etc/os', 'two'), file('etc/new', 'n'), file('opt', 'now a file')]),
      ]),
      root,
    );
    expect(await onDisk(root)).toEqual(['/etc/', '/etc/new=n', '/etc/os=two', '/keep=k', '/opt=now a file']);
    expect([...tree.entries.keys()].sort()).toEqual(['/', '/etc', '/etc/new', '/etc/os', '/keep', '/opt']);
    expect(tree.entries.get('/etc')).toMatchObject({ type: 'directory', mode: 0o750, layer: 1 });
    expect(tree.entries.get('/keep')).toMatchObject({ type: 'file', size: 1, layer: 0 });
    expect(tree.layerPaths).toEqual([
      ['/', '/etc', '/etc/os', '/opt', '/opt/x', '/keep'],
      ['/etc', '/etc/os', '/etc/new', '/opt'],
    ]);
    expect(tree.bytes).toBe(3 + 1 + 1 + 3 + 1 + 10);
  });

  it('keeps owners, special modes and devices in the map and leaves plain, readable files on disk', async () => {
    const tree = await unpackImage(
      imageOf([
        rawLayer([
          dir('home/alice/', { uid: 1000, gid: 100, uname: 'alice', mode: 0o700 }),
          file('usr/bin/sudo', '#!', { mode: 0o4755, uid: 0, gid: 0 }),
          dir('tmp/', { mode: 0o1777 }),
          file('secret', 's', { mode: 0o000 }),
          { name: 'dev/null', type: '3', devmajor: 1, devminor: 3, mode: 0o666 },
          { name: 'dev/sda', type: '4', devmajor: 8, devminor: 0, mode: 0o660, gid: 6 },
          { name: 'run/pipe', type: '6', mode: 0o644 },
        ]),
      ]),
      root,
    );
    expect(tree.entries.get('/home/alice')).toMatchObject({ uid: 1000, gid: 100, uname: 'alice', mode: 0o700 });
    expect(tree.entries.get('/usr/bin/sudo')).toMatchObject({ mode: 0o4755 });
    expect(tree.entries.get('/tmp')).toMatchObject({ mode: 0o1777 });
    expect(tree.entries.get('/dev/null')).toMatchObject({ type: 'character-device', device: { type: 'char', major: 1, minor: 3 }, mode: 0o666 });
    expect(tree.entries.get('/dev/sda')).toMatchObject({ type: 'block-device', device: { type: 'block', major: 8, minor: 0 }, gid: 6 });
    expect(tree.entries.get('/run/pipe')).toMatchObject({ type: 'fifo', device: { type: 'fifo', major: 0, minor: 0 } });
    // Implicit parents: root-owned 0755, as tar makes them.
    expect(tree.entries.get('/usr/bin')).toMatchObject({ type: 'directory', uid: 0, mode: 0o755 });
    const sudo = await lstat(join(root, 'usr/bin/sudo'));
    expect(sudo.mode & 0o7000).toBe(0); // no setuid bit on disk
    expect((await lstat(join(root, 'secret'))).mode & 0o600).toBe(0o600); // readable back
    const dev = await lstat(join(root, 'dev/null'));
    expect(dev.isFile() && dev.size === 0).toBe(true);
    expect((await lstat(join(root, 'run/pipe'))).isFile()).toBe(true);
  });

  it('makes hard links as hard links, with their target owner and mode', async () => {
    const tree = await unpackImage(
      imageOf([rawLayer([file('bin/busybox', 'bb', { mode: 0o755, uid: 3 }), { name: 'bin/sh', type: '1', linkname: 'bin/busybox' }]), rawLayer([{ name: 'sbin/init', type: '1', linkname: '/bin/busybox' }])]),
      root,
    );
    const [a, b, c] = await Promise.all(['bin/busybox', 'bin/sh', 'sbin/init'].map((p) => lstat(join(root, p))));
    expect(a!.ino).toBe(b!.ino);
    expect(a!.ino).toBe(c!.ino);
    expect(tree.entries.get('/bin/sh')).toMatchObject({ type: 'file', uid: 3, mode: 0o755, layer: 0 });
    expect(tree.entries.get('/sbin/init')).toMatchObject({ type: 'file', layer: 1 });
    const missing = await unpackError([[{ name: 'x', type: '1', linkname: 'nowhere' }]]);
    expect(missing).toMatchObject({ code: 'INVALID_IMAGE', message: 'image: layer 1 of 1, entry "x": the hard link target "nowhere" is not in the image' });
  });

  it('applies .wh. whiteouts to lower layers only and leaves no marker behind', async () => {
    const tree = await unpackImage(
      imageOf([
        rawLayer([file('etc/passwd', 'p'), file('etc/shadow', 's'), dir('var/cache/'), file('var/cache/a', 'a'), file('var/cache/sub/b', 'b')]),
        rawLayer([file('etc/.wh.shadow', ''), file('var/.wh.cache', ''), file('.wh.nothing-here', ''), file('gone/.wh.x', ''), file('new', 'n'), file('.wh.new', '')]),
      ]),
      root,
    );
    expect(await onDisk(root)).toEqual(['/etc/', '/etc/passwd=p', '/new=n', '/var/']);
    expect([...tree.entries.keys()].sort()).toEqual(['/', '/etc', '/etc/passwd', '/new', '/var']);
    expect(tree.layerPaths[1]).toEqual(['/new']);
  });

  it('makes a directory opaque: lower contents go, what the same layer puts there stays, marker first or last', async () => {
    const lower = () => rawLayer([file('d/old', 'o'), file('d/sub/old', 'o'), file('d/keep/old', 'o'), file('other', 'x')]);
    const markerFirst = rawLayer([file('d/.wh..wh..opq', ''), file('d/keep/new', 'n'), file('d/mine', 'm')]);
    const markerLast = rawLayer([file('d/keep/new', 'n'), file('d/mine', 'm'), file('d/.wh..wh..opq', '')]);
    for (const upper of [markerFirst, markerLast]) {
      await tmp.remove();
      await mkdir(outside, { recursive: true });
      await writeFile(join(outside, 'secret'), 'untouched');
      await unpackImage(imageOf([lower(), upper]), root);
      expect(await onDisk(root)).toEqual(['/d/', '/d/keep/', '/d/keep/new=n', '/d/mine=m', '/other=x']);
    }
  });

  it('applies a repeated layer once, at its last position, reading it once (nixpkgs #214434)', async () => {
    const a = rawLayer([file('f', 'from a'), file('only-a', 'a')]);
    const b = rawLayer([file('f', 'from b'), file('.wh.only-a', ''), file('only-b', 'b')]);
    const tree = await unpackImage(imageOf([a, b, a]), root);
    expect(a.opened.count).toBe(1);
    expect(await onDisk(root)).toEqual(['/f=from a', '/only-a=a', '/only-b=b']);
    expect(tree.layerPaths[0]).toBe(tree.layerPaths[2]);
    expect(tree.layerPaths[0]).toEqual(['/f', '/only-a']);
    expect(tree.entries.get('/f')?.layer).toBe(2);
  });

  it('reads gzip layers and PAX long names, and checks every layer against its diffID', async () => {
    const long = `deep/${'x'.repeat(120)}/file`;
    const tar = rawTar([file(long, 'long'), symlink(`link-${'y'.repeat(110)}`, `/${'z'.repeat(150)}`)]);
    const gz = gzipSync(tar);
    const layer = createLayer({ size: gz.length, compression: 'gzip', diffId: sha256(tar), open: () => Readable.from([gz]) });
    const tree = await unpackImage(imageOf([layer]), root);
    expect(await readFile(join(root, long), 'utf8')).toBe('long');
    expect(tree.entries.get(`/link-${'y'.repeat(110)}`)?.linkname).toBe(`/${'z'.repeat(150)}`);
    const lying = createLayer({ size: tar.length, diffId: `sha256:${'1'.repeat(64)}`, open: () => Readable.from([tar]) });
    await tmp.remove();
    await expect(unpackImage(imageOf([lying]), root)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
  });

  it('refuses a layer that is not a tar, naming the layer', async () => {
    const junk = Buffer.from('this is not a tar archive at all'.repeat(40));
    const layer = createLayer({ size: junk.length, open: () => Readable.from([junk]) });
    await expect(unpackImage(imageOf([layer]), root, { name: 'junk.tar' })).rejects.toMatchObject({
      code: 'INVALID_IMAGE',
      message: expect.stringMatching(/^junk\.tar: layer 1 of 1: not a readable tar: /),
    });
  });

  it('bounds what an image may write: maxBytes and maxEntries', async () => {
    const layer = () => rawLayer([file('a', 'aaaa'), file('b', 'bbbb'), file('c', 'cccc')]);
    await expect(unpackImage(imageOf([layer()]), root, { maxBytes: 10 })).rejects.toMatchObject({
      code: 'LIMIT_EXCEEDED',
      message: 'image: layer 1 of 1, entry "c": the image\'s files pass maxBytes (10 bytes)',
    });
    expect(await onDisk(root)).toEqual(['/a=aaaa', '/b=bbbb']); // nothing of c
    await expect(listImagePaths(imageOf([layer()]), { maxEntries: 3 })).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
  });

  it('refuses a directory that is not empty', async () => {
    await mkdir(root);
    await writeFile(join(root, 'there'), '');
    await expect(unpackImage(imageOf([]), root)).rejects.toMatchObject({ code: 'INVALID_OPTION', message: `unpack: ${root} is not empty (it holds there)` });
  });

  it('lists an image without writing anything: the same tree, the same layer paths', async () => {
    const layers = () => [rawLayer([file('a/b', 'x'), symlink('l', 'a')]), rawLayer([file('a/.wh.b', ''), file('l/c', 'y')])];
    const listed = await listImagePaths(imageOf(layers()));
    const unpacked = await unpackImage(imageOf(layers()), root);
    expect([...listed.entries]).toEqual([...unpacked.entries]);
    expect(listed.layerPaths).toEqual([['/a/b', '/l'], ['/l/c']]); // as written: no implicit parent
    expect([...listed.entries.keys()].sort()).toEqual(['/', '/a', '/a/c', '/l']);
    expect(listed.bytes).toBe(2);
  });
});

describe('unpackImage with hostile layers: nothing is written outside the root', () => {
  it('refuses names that climb above the root, before writing them', async () => {
    for (const name of ['../x', 'a/../../x', '/../outside/secret', './../../etc/passwd']) {
      const error = await unpackError([[file('fine', 'ok')], [file(name, 'pwned')]]);
      expect(error).toMatchObject({ code: 'UNSAFE_ENTRY', message: `image: layer 2 of 2, entry ${JSON.stringify(name)}: the name climbs above the root` });
      await expectOutsideUntouched();
    }
  });

  it('takes absolute names from the root', async () => {
    await unpackImage(imageOf([rawLayer([file('/etc/passwd', 'root:x:0:0')])]), root);
    expect(await onDisk(root)).toEqual(['/etc/', '/etc/passwd=root:x:0:0']);
  });

  it('follows a symlink to an absolute directory inside the root, in the same layer and in a later one', async () => {
    const tree = await unpackImage(
      imageOf([rawLayer([symlink('a', outside), file('a/secret', 'pwned'), symlink('b', '/etc')]), rawLayer([file('b/passwd', 'pwned too'), file(`${outside}/more`, 'in root')])]),
      root,
    );
    await expectOutsideUntouched();
    const inRoot = outside.slice(1);
    expect(await readFile(join(root, inRoot, 'secret'), 'utf8')).toBe('pwned');
    expect(await readFile(join(root, inRoot, 'more'), 'utf8')).toBe('in root');
    expect(await readFile(join(root, 'etc/passwd'), 'utf8')).toBe('pwned too');
    expect(tree.entries.get('/etc/passwd')?.type).toBe('file');
    expect(tree.layerPaths[1]).toEqual(['/b/passwd', `${outside}/more`]);
  });

  it('clamps relative link targets at the root, as a chroot does', async () => {
    await unpackImage(imageOf([rawLayer([dir('a/b/'), symlink('a/b/up', '../../../../../..'), file('a/b/up/x', 'at root'), symlink('r', '..'), file('r/r/y', 'also')])]), root);
    await expectOutsideUntouched();
    expect(await readFile(join(root, 'x'), 'utf8')).toBe('at root');
    expect(await readFile(join(root, 'y'), 'utf8')).toBe('also');
  });

  it('replaces a symlink with what an entry of its name is, never writing through it', async () => {
    await unpackImage(
      imageOf([rawLayer([symlink('d', outside), symlink('f', join(outside, 'secret'))]), rawLayer([dir('d/'), file('d/secret', 'in root'), file('f', 'in root too')])]),
      root,
    );
    await expectOutsideUntouched();
    expect(await onDisk(root)).toEqual(['/d/', '/d/secret=in root', '/f=in root too']);
  });

  it('resolves hard link targets inside the root only', async () => {
    const climbing = await unpackError([[{ name: 'l', type: '1', linkname: '../outside/secret' }]]);
    expect(climbing).toMatchObject({ code: 'UNSAFE_ENTRY', message: 'image: layer 1 of 1, entry "l": the hard link target "../outside/secret" climbs above the root' });
    // Through a symlink: the target is looked for inside the root, where there is none.
    const through = await unpackError([[symlink('a', outside), { name: 'l', type: '1', linkname: 'a/secret' }]]);
    expect(through.code).toBe('INVALID_IMAGE');
    await expectOutsideUntouched();
    const absolute = await unpackError([[{ name: 'l', type: '1', linkname: join(outside, 'secret') }]]);
    expect(absolute.code).toBe('INVALID_IMAGE');
    await expectOutsideUntouched();
  });

  it('applies whiteouts inside the root only', async () => {
    await unpackImage(imageOf([rawLayer([symlink('a', outside), file(`${outside}/secret`, 'in root')]), rawLayer([file('a/.wh.secret', ''), file('.wh.a', '')])]), root);
    await expectOutsideUntouched();
    // Left: the directories the second name made inside the root, emptied; the link is gone.
    const parts = outside.split('/').filter(Boolean);
    expect(await onDisk(root)).toEqual(parts.map((_, i) => `/${parts.slice(0, i + 1).join('/')}/`));
    const dots = await unpackError([[file('.wh...', '')]]);
    expect(dots.code).toBe('UNSAFE_ENTRY');
  });

  it('bounds what one entry can make it keep: names and link targets of at most 4096 bytes', async () => {
    const longName = await unpackError([[file(`${'d/'.repeat(2100)}f`, 'x')]]);
    expect(longName).toMatchObject({ code: 'INVALID_IMAGE', message: expect.stringMatching(/: the name is longer than 4096 bytes$/) });
    const longTarget = await unpackError([[symlink('l', 'x'.repeat(5000))]]);
    expect(longTarget).toMatchObject({ code: 'INVALID_IMAGE', message: 'image: layer 1 of 1, entry "l": the link target is longer than 4096 bytes' });
  });

  it('fails on symlink loops and on paths through files, with typed errors', async () => {
    const loop = await unpackError([[symlink('a', 'b'), symlink('b', 'a'), file('a/x', 'x')]]);
    expect(loop).toMatchObject({ code: 'INVALID_IMAGE', message: 'image: layer 1 of 1, entry "a/x": more than 40 symlinks on the way (a loop?)' });
    const throughFile = await unpackError([[file('f', 'x'), file('f/x', 'y')]]);
    expect(throughFile).toMatchObject({ code: 'INVALID_IMAGE', message: 'image: layer 1 of 1, entry "f/x": /f is not a directory' });
    await expectOutsideUntouched();
  });
});
