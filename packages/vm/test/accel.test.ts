import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasPeers, makeTempDir } from '@strata/test-utils';
import { describe, expect, it, vi } from 'vitest';
import { buildInitramfs, findVmComponents } from '../src/index.js';

describe.runIf(hasPeers('qemu-system-x86_64', 'busybox'))('the KVM verdict cache', () => {
  it('probes again when the cached verdict is corrupt, and repairs it', async () => {
    const components = await findVmComponents();
    const cache = await makeTempDir('strata-vm-cache-');
    // A fresh copy of the module each time: a new process, with no verdict in memory.
    const freshProbe = async () => {
      vi.resetModules();
      return (await import('../src/accel.js')).probeKvm;
    };
    try {
      const initramfs = await buildInitramfs(components, { cacheDir: cache.path });
      const first = await (await freshProbe())(components, initramfs, { cacheDir: cache.path, timeoutMs: 3000 });
      const [verdictFile] = (await readdir(cache.path)).filter((f) => f.startsWith('kvm-'));
      expect(verdictFile).toMatch(/^kvm-[0-9a-f]{32}\.json$/);
      for (const corrupt of ['{"kvm": tr', 'null']) {
        // A crash or a full disk mid-write, or an older or foreign file.
        await writeFile(join(cache.path, verdictFile!), corrupt);
        const again = await (await freshProbe())(components, initramfs, { cacheDir: cache.path, timeoutMs: 3000 });
        expect(again, JSON.stringify(corrupt)).toBe(first);
        expect(JSON.parse(await readFile(join(cache.path, verdictFile!), 'utf8'))).toEqual({ kvm: first });
      }
    } finally {
      await cache.remove();
    }
  });
});
