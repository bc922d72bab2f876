import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { scanDirectoryLayer, scanLayer } from './scan.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-names-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** A file name that is not UTF-8 (latin-1 "café"), as a store path or a local tree may hold. */
const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]);

describe('file names that are not UTF-8', () => {
  it('are refused naming the directory and the bytes, instead of failing to find the file', async () => {
    const path = '/nix/store/66666666666666666666666666666666-latin';
    const disk = join(dir, path);
    await mkdir(disk, { recursive: true });
    await writeFile(Buffer.concat([Buffer.from(`${disk}/`), latin1]), 'x');
    const message = `layer: ${disk} holds a file name that is not UTF-8 ("caf\\xe9"); tar layers name files in UTF-8`;
    await expect(scanLayer([path], { storeRoot: dir })).rejects.toMatchObject({ code: 'UNSUPPORTED_NAME', message });
    await expect(scanDirectoryLayer(disk)).rejects.toMatchObject({ code: 'UNSUPPORTED_NAME', message });
  });

  it('are told apart from UTF-8 names that hold U+FFFD itself, which are kept', async () => {
    await writeFile(join(dir, 'a\uFFFDb'), 'x');
    await symlink('/target/\uFFFD', join(dir, 'link'));
    const plan = await scanDirectoryLayer(dir);
    expect(plan.entries.map((e) => [e.name, e.linkname])).toEqual([
      ['./', undefined],
      ['./a\uFFFDb', undefined],
      ['./link', '/target/\uFFFD'],
    ]);
  });

  it('refuse a symlink whose target is not UTF-8, which would be written as another target', async () => {
    const link = join(dir, 'link');
    await symlink(Buffer.concat([Buffer.from('/target/'), latin1]), link);
    await expect(scanDirectoryLayer(dir)).rejects.toMatchObject({
      code: 'UNSUPPORTED_NAME',
      message: `layer: ${link} is a symlink whose target is not UTF-8 ("/target/caf\\xe9"); tar layers name files in UTF-8`,
    });
  });
});
