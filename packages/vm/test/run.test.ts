import { readFileSync } from 'node:fs';
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildHelloClosure, type HelloClosure, hasPeers, makeTempDir, run, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildInitramfs,
  VmBootError,
  findVmComponents,
  probeKvm,
  runAsRoot,
  VmKvmError,
  VmOptionError,
  VmTimeoutError,
} from '../src/index.js';
import { listTree, processMentions, waitFor, withRoot } from './_fixtures.js';

describe('runAsRoot options', () => {
  it('names a root that is not a directory and an outputDir that exists', async () => {
    await expect(runAsRoot('/nonexistent/root', 'true')).rejects.toThrow('vm: root "/nonexistent/root" is not a directory');
    await expect(runAsRoot('/', 'true', { outputDir: '/tmp' })).rejects.toBeInstanceOf(VmOptionError);
    await expect(runAsRoot('/', 'true', { buildVMMemorySize: 0 })).rejects.toThrow(/buildVMMemorySize must be a positive integer/);
    await expect(runAsRoot('/', 'true', { mounts: [{ host: '/nix', guest: 'nix' }] })).rejects.toThrow(/mounts\[0\]\.guest must be an absolute path/);
  });
});

describe.runIf(hasPeers('qemu-system-x86_64', 'busybox', 'getfattr', 'setfattr'))('runAsRoot refusing before it boots', () => {
  it('names a file name that is not UTF-8, an ownership path missing from the root, and a diskSize tmpDir cannot hold; leaves no temp files', async () => {
    const fill = async (root: string) => {
      await mkdir(join(root, 'etc'));
      await writeFile(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    };
    await withRoot(fill, async (root, tmp) => {
      const missing = runAsRoot(root, 'true', { accel: 'tcg', tmpDir: tmp, ownership: { '/etc/passwd': { uid: 0 }, '/etc/shadow': { gid: 42 } } });
      await expect(missing).rejects.toBeInstanceOf(VmOptionError);
      await expect(missing).rejects.toThrow('vm: ownership["/etc/shadow"] names a path that is not in the root');
      const orphan = runAsRoot(root, 'true', { accel: 'tcg', tmpDir: tmp, ownership: { '/dev/null': { device: { type: 'char', major: 1, minor: 3 } } } });
      await expect(orphan).rejects.toThrow('vm: ownership["/dev/null"] names a path that is not in the root (nor is its parent directory)');
      const huge = runAsRoot(root, 'true', { accel: 'tcg', tmpDir: tmp, diskSize: 1 << 30 });
      await expect(huge).rejects.toBeInstanceOf(VmOptionError);
      await expect(huge).rejects.toThrow(new RegExp(`^vm: diskSize is ${1 << 30} MiB but ${tmp}/strata-vm-\\w+ has only \\d+ MiB free; lower diskSize or set tmpDir elsewhere$`));
      await writeFile(Buffer.from(`${root}/etc/caf\xe9`, 'latin1'), 'latin-1 name');
      const latin1 = runAsRoot(root, 'true', { accel: 'tcg', tmpDir: tmp });
      await expect(latin1).rejects.toBeInstanceOf(VmOptionError);
      await expect(latin1).rejects.toThrow(`vm: ${root}/etc holds a name that is not UTF-8 ("caf\\xe9")`);
      expect(await readdir(tmp)).toEqual([]);
    });
  });
});

const peers = hasPeers('qemu-system-x86_64', 'busybox', 'nix-build', 'getfattr', 'setfattr');
const store = [{ host: '/nix/store', guest: '/nix/store' }];

describe.runIf(peers)('runAsRoot in a real QEMU VM', () => {
  let closure: HelloClosure;
  let cache: TempDir;
  let kvmWorks: boolean;

  beforeAll(async () => {
    closure = await buildHelloClosure();
    cache = await makeTempDir('strata-vm-cache-');
    const components = await findVmComponents();
    kvmWorks = await probeKvm(components, await buildInitramfs(components, { cacheDir: cache.path }), { cacheDir: cache.path });
  });
  afterAll(async () => {
    await cache?.remove();
  });

  it('returns a failing script’s exit code, stderr and exact stdout bytes, with the root’s own /bin/sh from the store', async () => {
    const fill = async (root: string) => {
      await mkdir(join(root, 'bin'));
      await symlink(`${closure.busybox}/bin/sh`, join(root, 'bin/sh'));
    };
    const script = "printf 'out\\377\\001'\necho 'bad thing' >&2\nreadlink /bin/sh >&2\nexit 42\n";
    await withRoot(fill, async (root, tmp) => {
      const before = await listTree(root);
      const result = await runAsRoot(root, script, { mounts: store, cacheDir: cache.path, tmpDir: tmp, accel: 'tcg' });
      expect(result.exitCode).toBe(42);
      expect(result.accel).toBe('tcg');
      expect(result.stdout).toEqual(Buffer.from([0x6f, 0x75, 0x74, 0xff, 0x01]));
      expect(result.stderr.toString()).toBe(`bad thing\n${closure.busybox}/bin/sh\n`);
      expect(result.changes).toEqual([]);
      expect(await listTree(root)).toEqual(before);
      expect(await readdir(tmp)).toEqual([]);
    });
  });

  it('kills the VM at the timeout (showing the output so far) and when the signal aborts, and leaves no VM and no temp files', async () => {
    await withRoot(async () => {}, async (root, tmp) => {
      const timeoutTmp = join(tmp, 'timeout');
      const abortTmp = join(tmp, 'abort');
      await mkdir(timeoutTmp);
      await mkdir(abortTmp);
      // Long enough for the boot on a busy machine, so the script has printed before the VM is killed.
      const script = "echo started; printf 'warn\\377' >&2; sleep 1000";
      const timedOut = runAsRoot(root, script, { cacheDir: cache.path, tmpDir: timeoutTmp, accel: 'tcg', timeoutMs: 60_000 }).catch((e: unknown) => e);
      const controller = new AbortController();
      const aborted = runAsRoot(root, script, { cacheDir: cache.path, tmpDir: abortTmp, accel: 'tcg', signal: controller.signal });
      aborted.catch(() => {});
      // The script's output reaches the control share as it is written.
      await waitFor(async () => (await readdir(abortTmp)).some((d) => hasStarted(join(abortTmp, d))), 120_000);
      expect(await processMentions(abortTmp)).toBe(true);
      controller.abort(new DOMException('stop', 'AbortError'));
      await expect(aborted).rejects.toThrow('stop');
      expect(await processMentions(abortTmp)).toBe(false);
      expect(await readdir(abortTmp)).toEqual([]);

      const error = await timedOut;
      expect(error).toBeInstanceOf(VmTimeoutError);
      expect((error as VmTimeoutError).message).toBe(
        'vm: script did not finish within 60000 ms; the VM was killed (its output so far: 8 bytes on stdout, 5 on stderr)',
      );
      expect((error as VmTimeoutError).stdout.toString()).toBe('started\n');
      expect((error as VmTimeoutError).stderr).toEqual(Buffer.from('warn\xff', 'latin1'));
      expect(await processMentions(timeoutTmp)).toBe(false);
      expect(await readdir(timeoutTmp)).toEqual([]);
    });
  });

  it('runs two VMs at once on odd roots: a symlinked root, odd names, a fifo, stdin, 65 MiB of output', async () => {
    const fill = async (root: string) => {
      await mkdir(join(root, 'data'));
      await writeFile(join(root, 'data/with space'), 'spaced\n');
      await writeFile(join(root, 'data/new\nline'), 'newline\n');
      await writeFile(join(root, 'data/back\\slash=eq'), 'odd\n');
      await run('mkfifo', [join(root, 'data/fifo')]);
    };
    await withRoot(fill, async (root, tmp) => {
      const linked = join(tmp, '..', 'root-link');
      await symlink(root, linked);
      const big = 65 * 1024 * 1024;
      const [names, output] = await Promise.all([
        runAsRoot(
          linked,
          ['cd /data', 'for f in *; do printf "[%s]" "$f"; done', 'test -p fifo && echo fifo', 'cat "new', 'line" "with space"', 'cat', "echo 'stdin closed'", "echo more >> 'with space'"].join('\n'),
          { cacheDir: cache.path, tmpDir: tmp, accel: 'tcg' },
        ),
        runAsRoot(root, `dd if=/dev/zero bs=1048576 count=65 2>/dev/null | tr '\\000' '\\377'`, { cacheDir: cache.path, tmpDir: tmp, accel: 'tcg' }),
      ]);
      expect(names.stderr.toString()).toBe('');
      expect(names.stdout.toString()).toBe('[back\\slash=eq][fifo][new\nline][with space]fifo\nnewline\nspaced\nstdin closed\n');
      expect(names.changes.map((c) => `${c.change} ${c.path} ${c.type}`)).toEqual(['modified /data/with space file']);
      expect(output.exitCode).toBe(0);
      expect(output.stdout.length).toBe(big);
      expect(output.stdout.equals(Buffer.alloc(big, 0xff))).toBe(true);
      expect(output.changes).toEqual([]);
      expect(await readdir(tmp)).toEqual([]);
    });
  });

  it("reports a VM that stops without running the script, with QEMU's messages", async () => {
    const { modules } = await findVmComponents();
    await withRoot(async () => {}, async (root, tmp) => {
      const kernel = join(tmp, '..', 'vmlinuz-garbage');
      await writeFile(kernel, 'not a kernel');
      const run = runAsRoot(root, 'echo never', { cacheDir: cache.path, tmpDir: tmp, accel: 'tcg', components: { kernel, modules } });
      const error = await run.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(VmBootError);
      expect((error as VmBootError).message).toMatch(/stopped before the script finished/);
      expect((error as VmBootError).console).toMatch(/qemu.*kernel/i);
      expect(await readdir(tmp)).toEqual([]);
    });
  });

  it('uses KVM when forced only if the probe says it works', async () => {
    await withRoot(async () => {}, async (root, tmp) => {
      const run = runAsRoot(root, 'echo ok', { cacheDir: cache.path, tmpDir: tmp, accel: 'kvm' });
      if (kvmWorks) expect((await run).accel).toBe('kvm');
      else await expect(run).rejects.toBeInstanceOf(VmKvmError);
      expect(await readdir(tmp)).toEqual([]);
    });
  });
});

function hasStarted(work: string): boolean {
  try {
    return readFileSync(join(work, 'ctl/stdout'), 'utf8') === 'started\n';
  } catch {
    return false;
  }
}
