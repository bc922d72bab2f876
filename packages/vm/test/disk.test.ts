import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasPeers, makeTempDir, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAsRoot, VmDiskFullError } from '../src/index.js';
import { diskUsage, peakWhile, withRoot } from './_fixtures.js';

const MiB = 1024 * 1024;

describe.runIf(hasPeers('qemu-system-x86_64', 'busybox', 'getfattr', 'setfattr'))('diskSize bounds what a script writes', () => {
  let cache: TempDir;
  beforeAll(async () => {
    cache = await makeTempDir('strata-vm-cache-');
  });
  afterAll(async () => {
    await cache?.remove();
  });

  it('fails a script that writes past diskSize (even one that ignores the error) without filling the host, and lets one within it through', async () => {
    const fill = async (root: string) => {
      await mkdir(join(root, 'data'));
    };
    await withRoot(fill, async (root, tmp) => {
      const fullTmp = join(tmp, 'full');
      const fitTmp = join(tmp, 'fit');
      await mkdir(fullTmp);
      await mkdir(fitTmp);
      // 64 MiB into a 16 MiB disk, the failure swallowed: the script exits 0 but its layer would be cut short.
      const full = runAsRoot(root, 'dd if=/dev/zero of=/data/big bs=1M count=64 || true\necho after', {
        cacheDir: cache.path,
        tmpDir: fullTmp,
        accel: 'tcg',
        diskSize: 16,
      }).catch((e: unknown) => e);
      // 6 MiB of scratch in /tmp and 4 MiB into the root fit in 16 MiB; only the root's file is a change.
      const fits = runAsRoot(
        root,
        'dd if=/dev/zero of=/tmp/scratch bs=1M count=6 2>/dev/null\nhead -c 4194304 /dev/urandom > /data/blob\nsha256sum /data/blob',
        { cacheDir: cache.path, tmpDir: fitTmp, accel: 'tcg', diskSize: 16, outputDir: join(tmp, 'layer') },
      );
      const peak = await peakWhile(full, () => diskUsage(fullTmp));
      const error = await full;
      expect(error).toBeInstanceOf(VmDiskFullError);
      const diskFull = error as VmDiskFullError;
      expect(diskFull.message).toMatch(/^vm: the script filled the VM's disk \(diskSize 16 MiB, for its changes to the root and \/tmp together\); its changes are incomplete and were dropped \(exit code 0\); raise diskSize$/);
      expect(diskFull.exitCode).toBe(0);
      expect(diskFull.stdout.toString()).toBe('after\n');
      expect(diskFull.stderr.toString()).toContain('No space left on device');
      // The host never held more than the disk (sparse: what the guest wrote) plus the tiny root.
      expect(peak).toBeLessThan(17 * MiB);
      expect(await readdir(fullTmp)).toEqual([]);

      const result = await fits;
      expect(result.exitCode).toBe(0);
      expect(result.changes.map((c) => `${c.change} ${c.path}`)).toEqual(['added /data/blob']);
      const blob = await readFile(join(tmp, 'layer/data/blob'));
      expect(blob.length).toBe(4 * MiB);
      expect(result.stdout.toString()).toBe(`${createHash('sha256').update(blob).digest('hex')}  /data/blob\n`);
      expect(await readdir(fitTmp)).toEqual([]);
    });
  });
});
