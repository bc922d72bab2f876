import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { makeTempDir, run } from '@strata/test-utils';
import { describe, expect, it } from 'vitest';
import type { TarEntry } from './tar-entry.js';
import { writeTar } from './tar.js';

const owner = { uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1 };
const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

/** Every header shape strata writes: plain ustar, PAX for long/non-ASCII names, big ids and long owner names, every type. */
function entries(): TarEntry[] {
  return [
    { ...owner, name: 'dir/', type: 'directory', mode: 0o755, size: 0 },
    { ...owner, name: 'dir/empty', type: 'file', mode: 0o644, size: 0 },
    { ...owner, name: 'dir/buffer', type: 'file', mode: 0o4755, size: 700, body: bytes(700, 1) },
    { ...owner, name: 'dir/iterable', type: 'file', mode: 0, size: 3000, body: async function* () { yield bytes(1000, 2); yield bytes(2000, 3); } },
    { ...owner, name: 'dir/readable', type: 'file', mode: 0o600, size: 512, body: () => Readable.from([bytes(100, 4), bytes(412, 5)]) },
    { ...owner, name: `dir/${'long/'.repeat(30)}name.bin`, type: 'file', mode: 0o644, size: 10, body: bytes(10, 6) },
    { ...owner, name: 'dir/ünïcødé-名前.txt', type: 'file', mode: 0o644, size: 3, body: Buffer.from('hi\n') },
    { ...owner, name: 'dir/link', type: 'symlink', mode: 0o777, size: 0, linkname: '../dir/buffer' },
    { ...owner, name: 'dir/long-link', type: 'symlink', mode: 0o777, size: 0, linkname: `/nix/store/${'x'.repeat(150)}` },
    { ...owner, name: 'dir/ids', type: 'file', mode: 0o644, uid: 3_000_000, gid: 70_000, size: 1, body: Buffer.from('x') },
    { ...owner, name: 'dir/owner', type: 'file', mode: 0o644, uname: 'u'.repeat(40), gname: 'grüppe', size: 0 },
    { ...owner, name: 'dev/null', type: 'character-device', mode: 0o666, size: 0, devmajor: 1, devminor: 3 },
    { ...owner, name: 'dev/sda', type: 'block-device', mode: 0o660, size: 0, devmajor: 8, devminor: 0 },
    { ...owner, name: 'dev/fifo', type: 'fifo', mode: 0o644, size: 0, mtime: 2_000_000_000 },
    { ...owner, name: 'big-mtime', type: 'directory', mode: 0o1777, size: 0, mtime: 315532800 },
  ];
}

describe('writeTar bytes', () => {
  // Pinned so that changes to how archives are written (for speed) provably keep every byte.
  it('writes the same bytes as it always has', async () => {
    const tar = writeTar(entries());
    const out = await buffer(tar);
    expect(out.length).toBe(tar.size);
    const hex = createHash('sha256').update(out).digest('hex');
    expect(await tar.digest).toBe(`sha256:${hex}`);
    expect(hex).toBe('b81accd001066fd9f8c491dbde67c5feb5b8c568a56d497139b5b8990cefb117');
  });
});

describe('writeTar hard links', () => {
  it('writes a hard-link entry (typeflag 1, no body) that GNU tar extracts as a second name of one file', async () => {
    const long = `./${'deep/'.repeat(25)}target`;
    const tar = writeTar([
      { ...owner, name: './bin/', type: 'directory', mode: 0o755, size: 0 },
      { ...owner, name: './bin/tool', type: 'file', mode: 0o555, size: 5, body: Buffer.from('tool\n') },
      { ...owner, name: './nix/', type: 'directory', mode: 0o555, size: 0 },
      { ...owner, name: './nix/tool', type: 'link', mode: 0o555, size: 0, linkname: './bin/tool' },
      { ...owner, name: long, type: 'file', mode: 0o444, size: 2, body: Buffer.from('x\n') },
      { ...owner, name: './nix/long', type: 'link', mode: 0o444, size: 0, linkname: long },
    ]);
    const bytes = await buffer(tar);
    expect(bytes.length).toBe(tar.size);
    const dir = await makeTempDir('strata-tar-link-');
    try {
      await writeFile(join(dir.path, 'a.tar'), bytes);
      const { stdout } = await run('tar', ['-tvf', join(dir.path, 'a.tar')]);
      expect(stdout).toMatch(/^hr-xr-xr-x .* \.\/nix\/tool link to \.\/bin\/tool$/m);
      await mkdir(join(dir.path, 'x'));
      await run('tar', ['-C', join(dir.path, 'x'), '-xf', join(dir.path, 'a.tar')]);
      const [a, b] = await Promise.all([lstat(join(dir.path, 'x/bin/tool')), lstat(join(dir.path, 'x/nix/tool'))]);
      expect(b.ino).toBe(a.ino);
      expect(a.nlink).toBe(2);
      expect(await readFile(join(dir.path, 'x/nix/long'), 'utf8')).toBe('x\n');
    } finally {
      await dir.remove();
    }
  });
});
