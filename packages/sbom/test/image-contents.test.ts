import { chmod, link, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dumpNarInfo, narInfoOfTree } from '@strata/closure';
import { makeTempDir, type TempDir } from '@strata/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readImageContents } from '../src/image-contents.js';
import { SbomError } from '../src/errors.js';
import { entriesLayer, entry, imageOf, tarLayer } from './_layers.js';

const A = '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-lib-1.0';
const B = '/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-app-2.1';
const C = '/nix/store/cccccccccccccccccccccccccccccccc-gone-3';

describe('readImageContents', () => {
  let dir: TempDir;
  beforeEach(async () => {
    dir = await makeTempDir('strata-sbom-test-');
  });
  afterEach(async () => {
    await dir.remove();
  });

  it("finds every store path after whiteouts, with the NAR hash of what the image holds and the references it names", async () => {
    // Layer 1: three store paths; app refers to lib and to itself; a hard link into a file outside the store.
    const one = join(dir.path, 'one');
    await mkdir(join(one, A.slice(1), 'lib'), { recursive: true });
    await mkdir(join(one, B.slice(1), 'bin'), { recursive: true });
    await mkdir(join(one, C.slice(1)), { recursive: true });
    await mkdir(join(one, 'etc'));
    await writeFile(join(one, A.slice(1), 'lib/libx.so'), 'a library\n');
    await writeFile(join(one, B.slice(1), 'bin/app'), `#!${A}/lib/libx.so\n${B}/share\n`);
    await chmod(join(one, B.slice(1), 'bin/app'), 0o755);
    await symlink(`${A}/lib/libx.so`, join(one, B.slice(1), 'lib.so'));
    await writeFile(join(one, 'etc/config'), 'shared bytes\n');
    await link(join(one, 'etc/config'), join(one, B.slice(1), 'config'));
    await writeFile(join(one, C.slice(1), 'data'), 'removed later\n');
    // Layer 2: C is whited out.
    const two = join(dir.path, 'two');
    await mkdir(join(two, 'nix/store'), { recursive: true });
    await writeFile(join(two, 'nix/store', `.wh.${C.slice('/nix/store/'.length)}`), '');
    const image = imageOf([await tarLayer(one, join(dir.path, 'one.tar')), await tarLayer(two, join(dir.path, 'two.tar'))]);

    const contents = await readImageContents(image);
    expect(contents.storePaths.map((p) => p.path)).toEqual([A, B]);
    const [lib, app] = contents.storePaths;
    expect(lib!.references).toEqual([]);
    expect(app!.references).toEqual([A, B]);
    // The same trees on disk, serialised by the closure package, hash the same.
    expect(lib!.narHash).toBe((await dumpNarInfo(join(one, A.slice(1)))).narHash);
    expect(app!.narHash).toBe((await dumpNarInfo(join(one, B.slice(1)))).narHash);
    expect(contents.imageId).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(contents.created).toBe('2024-05-06T07:08:09Z');
  });

  it('writes nothing outside for a store path that is a link out, and describes the link itself', async () => {
    const outside = await makeTempDir('strata-sbom-outside-');
    try {
      const image = imageOf([
        entriesLayer([
          entry('nix/', 'directory'),
          entry('nix/store/', 'directory'),
          entry(`${A.slice(1)}`, 'symlink', { linkname: outside.path }),
          entry(`${A.slice(1)}/planted`, 'file', { body: Buffer.from('x') }),
        ]),
      ]);
      const contents = await readImageContents(image);
      expect(await readdir(outside.path)).toEqual([]);
      expect(contents.storePaths.map((p) => p.path)).toEqual([A]);
      // The NAR of a symlink: its target and nothing else.
      expect(contents.storePaths[0]!.narHash).toBe(narInfoOfTree({ type: 'symlink', target: outside.path }).narHash);
    } finally {
      await outside.remove();
    }
  });

  it('refuses a name that climbs out, a store that is a link, and a device in the store', async () => {
    const climbing = imageOf([entriesLayer([entry(`../../${A.slice(1)}/x`, 'file', { body: Buffer.from('x') })])]);
    await expect(readImageContents(climbing)).rejects.toMatchObject({ code: 'UNSAFE_ENTRY' });
    const linked = imageOf([entriesLayer([entry('nix/', 'directory'), entry('nix/store', 'symlink', { linkname: '/nix/store' })])]);
    const error = await readImageContents(linked).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SbomError);
    expect((error as Error).message).toMatch(/\/nix\/store is a symlink in the image/);
    const device = imageOf([entriesLayer([entry(`${A.slice(1)}/`, 'directory'), entry(`${A.slice(1)}/tty`, 'character-device', { devmajor: 5, devminor: 0 })])]);
    await expect(readImageContents(device)).rejects.toThrow(/character-device in the store/);
  });

  it('ignores what is outside the store', async () => {
    const image = imageOf([entriesLayer([entry('etc/passwd', 'file', { body: Buffer.from('root:x:0:0::/:/bin/sh\n') }), entry(`./${B.slice(1)}/bin`, 'file', { body: Buffer.from('bin') })])]);
    expect((await readImageContents(image)).storePaths.map((p) => p.path)).toEqual([B]);
  });

  it('stops at a bound on entries', async () => {
    const entries = Array.from({ length: 20 }, (_, i) => entry(`${A.slice(1)}/f${i}`, 'file', { body: Buffer.from('x') }));
    await expect(readImageContents(imageOf([entriesLayer(entries)]), { maxEntries: 10 })).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
  });
});
