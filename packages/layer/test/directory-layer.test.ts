import { writeFile, mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { makeTempDir, run } from '@strata/test-utils';
import { describe, expect, it } from 'vitest';
import { packLayer, scanDirectoryLayer } from '../src/index.js';

describe('scanDirectoryLayer', () => {
  it('packs a directory as nixpkgs packs its customisation layer, applying fakeroot overrides', async () => {
    const dir = await makeTempDir();
    try {
      const root = join(dir.path, 'layer');
      await mkdir(join(root, 'home/alice'), { recursive: true });
      await writeFile(join(root, 'null'), '');
      await symlink('/nix/store/x-hello/bin/hello', join(root, 'hello'));
      await run('mkfifo', [join(root, 'fifo')]);
      const plan = await scanDirectoryLayer(root, {
        overrides: new Map([
          ['/home/alice', { uid: 1000, gid: 100 }],
          ['/null', { uid: 0, gid: 0, mode: 0o666, device: { type: 'char' as const, major: 1, minor: 3 } }],
        ]),
      });
      const bytes = await buffer(packLayer(plan));
      expect(bytes.length).toBe(plan.size);
      const tarFile = join(dir.path, 'layer.tar');
      await writeFile(tarFile, bytes);
      const listing = (await run('tar', ['--numeric-owner', '--full-time', '-tvf', tarFile], { env: { TZ: 'UTC' } })).stdout.trim().split('\n');
      const rows = listing.map((l) => l.split(/\s+/));
      // mode owner size-or-device date time name [-> target]
      expect(rows.map((r) => r[5])).toEqual(['./', './fifo', './hello', './home/', './home/alice/', './null']);
      expect(rows.every((r) => r[3] === '1980-01-01' && r[4] === '00:00:00')).toBe(true);
      expect(rows[0]![1]).toBe('0/0');
      expect(rows[4]!.slice(0, 2)).toEqual(['drwxr-xr-x', '1000/100']);
      expect(rows[5]!.slice(0, 3)).toEqual(['crw-rw-rw-', '0/0', '1,3']);
      expect(rows[1]![0]).toBe('prw-r--r--');
      expect(listing[2]).toContain('./hello -> /nix/store/x-hello/bin/hello');
    } finally {
      await dir.remove();
    }
  });
});
