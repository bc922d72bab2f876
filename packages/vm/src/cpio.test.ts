import { readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { hasPeers, makeTempDir, run } from '@strata/test-utils';
import { describe, expect, it } from 'vitest';
import { writeCpio } from './cpio.js';

const entries = [
  { path: 'init', type: 'file' as const, mode: 0o755, data: Buffer.from('#!/bin/sh\necho hi\n') },
  { path: 'bin', type: 'directory' as const, mode: 0o755 },
  { path: 'bin/sh', type: 'symlink' as const, target: 'busybox' },
  { path: 'bin/odd', type: 'file' as const, mode: 0o600, data: Buffer.from('abc') },
];

describe('writeCpio', () => {
  it('writes the same bytes for the same entries in any order, 4-byte aligned, ending in TRAILER!!!', () => {
    const a = writeCpio(entries);
    const b = writeCpio([...entries].reverse());
    expect(a.equals(b)).toBe(true);
    expect(a.length % 4).toBe(0);
    expect(a.subarray(0, 6).toString()).toBe('070701');
    expect(a.includes(Buffer.from('TRAILER!!!\0'))).toBe(true);
  });

  it('rejects absolute paths', () => {
    expect(() => writeCpio([{ path: '/init', type: 'directory', mode: 0o755 }])).toThrow(/relative: \/init/);
  });

  describe.runIf(hasPeers('cpio'))('with the real cpio', () => {
    it('unpacks to the same files, modes and symlinks', async () => {
      const dir = await makeTempDir('strata-vm-cpio-');
      try {
        await run('cpio', ['-idm', '--quiet', '--no-absolute-filenames'], { cwd: dir.path, input: writeCpio(entries) });
        expect(await readFile(join(dir.path, 'init'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
        expect((await stat(join(dir.path, 'init'))).mode & 0o7777).toBe(0o755);
        expect((await stat(join(dir.path, 'bin/odd'))).mode & 0o7777).toBe(0o600);
        expect(await readlink(join(dir.path, 'bin/sh'))).toBe('busybox');
        const listing = await run('cpio', ['-t', '--quiet'], { input: writeCpio(entries) });
        expect(listing.stdout.split('\n').filter(Boolean)).toEqual(['bin', 'bin/odd', 'bin/sh', 'init']);
      } finally {
        await dir.remove();
      }
    });
  });
});
