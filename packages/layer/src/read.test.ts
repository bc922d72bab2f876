import { describe, expect, it } from 'vitest';
import { readTar } from './read.js';
import type { TarEntry } from './tar-entry.js';
import { writeTar } from './tar.js';

const owner = { uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1 };

describe('readTar', () => {
  it('gives back every header field writeTar wrote, PAX ids and owner names included', async () => {
    const written: TarEntry[] = [
      { ...owner, name: 'home/', type: 'directory', mode: 0o1777, size: 0, mtime: 315532800 },
      { ...owner, name: 'home/ids', type: 'file', mode: 0o4755, uid: 3_000_000, gid: 70_000, size: 1, body: Buffer.from('x') },
      { ...owner, name: 'home/names', type: 'file', mode: 0o600, uid: 1000, gid: 100, uname: 'u'.repeat(40), gname: 'grüppe', size: 0 },
      { ...owner, name: 'dev/sda', type: 'block-device', mode: 0o660, size: 0, devmajor: 8, devminor: 1 },
      { ...owner, name: 'link', type: 'symlink', mode: 0o777, size: 0, linkname: `/nix/store/${'x'.repeat(150)}` },
    ];
    const read = [];
    for await (const m of readTar(writeTar(written))) {
      const { body: _, offset: __, ...header } = m;
      read.push(header);
    }
    expect(read).toEqual(
      written.map(({ body: _, ...e }) => ({
        ...e,
        ...(e.type === 'file' ? {} : { size: 0 }),
        devmajor: e.devmajor ?? 0,
        devminor: e.devminor ?? 0,
      })),
    );
  });
});
