import { readdir, readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { hasPeers, makeTempDir } from '@strata/test-utils';
import { describe, expect, it } from 'vitest';
import { buildInitramfs, findVmComponents, writeCpio } from '../src/index.js';
import { initramfsEntries } from '../src/initramfs.js';

describe.runIf(hasPeers('qemu-system-x86_64', 'busybox'))('buildInitramfs', () => {
  it('serves concurrent builds into one cache (two VMs at once) with one whole file', async () => {
    const components = await findVmComponents();
    const cache = await makeTempDir('strata-vm-cache-');
    try {
      const paths = await Promise.all([1, 2, 3].map(() => buildInitramfs(components, { cacheDir: cache.path })));
      expect(new Set(paths).size).toBe(1);
      const want = writeCpio(await initramfsEntries(components));
      expect(gunzipSync(await readFile(paths[0]!)).equals(want)).toBe(true);
      expect(await readdir(cache.path)).toEqual([paths[0]!.slice(cache.path.length + 1)]);
    } finally {
      await cache.remove();
    }
  });
});
