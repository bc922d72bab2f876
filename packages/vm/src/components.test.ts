import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasPeers, makeTempDir, which } from '@strata/test-utils';
import { describe, expect, it } from 'vitest';
import { findVmComponents, hasInterpreter } from './components.js';
import { VmMissingComponentError } from './errors.js';

describe('findVmComponents', () => {
  it('names the package to install when no kernel is found', async () => {
    const empty = await makeTempDir('strata-vm-boot-');
    try {
      const found = findVmComponents({ bootDir: empty.path, modulesRoot: empty.path });
      await expect(found).rejects.toBeInstanceOf(VmMissingComponentError);
      await expect(found).rejects.toThrow(/install linux-image-amd64/);
    } finally {
      await empty.remove();
    }
  });

  it('names the modules.dep it could not find', async () => {
    await expect(findVmComponents({ kernel: '/proc/self/exe', modules: '/nonexistent' })).rejects.toThrow(
      /kernel modules not found at \/nonexistent\/modules.dep/,
    );
  });

  it('rejects a dynamically linked busybox', async () => {
    const modules = await makeTempDir('strata-vm-modules-');
    try {
      await writeFile(join(modules.path, 'modules.dep'), '');
      const c = findVmComponents({ kernel: '/proc/self/exe', modules: modules.path, busybox: '/bin/ls' });
      await expect(c).rejects.toThrow(/busybox \/bin\/ls is dynamically linked; install busybox-static/);
      expect(hasInterpreter(await readFile('/bin/ls'))).toBe(true);
    } finally {
      await modules.remove();
    }
  });

  describe.runIf(hasPeers('busybox', 'qemu-system-x86_64'))('on this host', () => {
    it('finds a kernel with its modules, a static busybox and QEMU', async () => {
      const c = await findVmComponents();
      expect(c.kernel).toMatch(/vmlinuz-/);
      expect(c.modules).toBe(`/lib/modules/${c.kernel.split('vmlinuz-')[1]}`);
      expect(c.qemu).toBe(which('qemu-system-x86_64'));
      expect(hasInterpreter(await readFile(c.busybox))).toBe(false);
    });
  });
});

