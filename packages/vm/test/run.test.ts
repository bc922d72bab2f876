import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildHelloClosure, type HelloClosure, hasPeers, makeTempDir, run, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildInitramfs,
  VmBootError,
  findVmComponents,
  probeKvm,
  type RootChange,
  runAsRoot,
  VmKvmError,
  VmOptionError,
  VmTimeoutError,
} from '../src/index.js';
import { listTree, processMentions, waitFor } from './_fixtures.js';

describe('runAsRoot options', () => {
  it('names a root that is not a directory and an outputDir that exists', async () => {
    await expect(runAsRoot('/nonexistent/root', 'true')).rejects.toThrow('vm: root "/nonexistent/root" is not a directory');
    await expect(runAsRoot('/', 'true', { outputDir: '/tmp' })).rejects.toBeInstanceOf(VmOptionError);
    await expect(runAsRoot('/', 'true', { buildVMMemorySize: 0 })).rejects.toThrow(/buildVMMemorySize must be a positive integer/);
    await expect(runAsRoot('/', 'true', { mounts: [{ host: '/nix', guest: 'nix' }] })).rejects.toThrow(/mounts\[0\]\.guest must be an absolute path/);
  });
});

describe.runIf(hasPeers('qemu-system-x86_64', 'busybox', 'getfattr', 'setfattr'))('runAsRoot on a root it cannot copy', () => {
  it('names a file name that is not UTF-8 before booting, and leaves no temp files', async () => {
    const dir = await makeTempDir('strata-vm-test-');
    try {
      const root = join(dir.path, 'root');
      const tmp = join(dir.path, 'tmp');
      await mkdir(join(root, 'etc'), { recursive: true });
      await mkdir(tmp);
      await writeFile(Buffer.from(`${root}/etc/caf\xe9`, 'latin1'), 'latin-1 name');
      const run = runAsRoot(root, 'true', { accel: 'tcg', tmpDir: tmp });
      await expect(run).rejects.toBeInstanceOf(VmOptionError);
      await expect(run).rejects.toThrow(`vm: ${root}/etc holds a name that is not UTF-8 ("caf\\xe9")`);
      expect(await readdir(tmp)).toEqual([]);
    } finally {
      await dir.remove();
    }
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

  async function withRoot<T>(fill: (root: string) => Promise<void>, body: (root: string, tmp: string) => Promise<T>): Promise<T> {
    const dir = await makeTempDir('strata-vm-test-');
    try {
      const root = join(dir.path, 'root');
      const tmp = join(dir.path, 'tmp');
      await mkdir(root);
      await mkdir(tmp);
      await fill(root);
      return await body(root, tmp);
    } finally {
      await dir.remove();
    }
  }

  async function imageRoot(root: string): Promise<void> {
    await mkdir(join(root, 'etc'));
    await mkdir(join(root, 'bin'));
    await mkdir(join(root, 'var/cache/fonts'), { recursive: true });
    await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    await writeFile(join(root, 'etc/group'), 'root:x:0:\n');
    await writeFile(join(root, 'etc/old-motd'), 'old\n');
    await writeFile(join(root, 'bin/su'), 'not really su\n', { mode: 0o755 });
    await writeFile(join(root, 'var/cache/fonts/index'), 'x');
    await symlink('passwd', join(root, 'etc/passwd-link'));
  }

  it('reports users, ownership, setuid, writes, deletions, device nodes and symlinks made inside the guest', async () => {
    const script = [
      'set -e',
      "echo 'u:x:1000:1000::/home/u:/bin/sh' >> /etc/passwd",
      "echo 'u:x:1000:' >> /etc/group",
      'mkdir -p /home/u && chown 1000:1000 /home/u',
      'chmod 4755 /bin/su',
      "printf 'written' > /etc/motd",
      'rm /etc/old-motd',
      'rm -rf /var/cache',
      'mkdir /srv && mknod /srv/null c 1 3',
      `ln -s ${closure.hello}/bin/hello /bin/hello`,
      'hello',
      `cat ${closure.greeting}/share/greeting/message`,
      'cat /etc/passwd-link',
      `printf '%s\\n' "(parens)" "'single'" '"double"' '$dollar' "\\$(not run)" 'back\`tick\`'`,
      'echo "home=$HOME"',
    ].join('\n');
    await withRoot(imageRoot, async (root, tmp) => {
      const outputDir = join(tmp, '..', 'out');
      const result = await runAsRoot(root, script, { mounts: store, cacheDir: cache.path, tmpDir: tmp, outputDir });
      expect(result.stderr.toString()).toBe('');
      expect(result.exitCode).toBe(0);
      expect(result.accel).toBe(kvmWorks ? 'kvm' : 'tcg');
      expect(result.stdout.toString()).toBe(
        [
          'Hello, world!',
          `from ${closure.hello}`,
          'Hello, world!',
          'root:x:0:0:root:/root:/bin/sh',
          'u:x:1000:1000::/home/u:/bin/sh',
          '(parens)',
          "'single'",
          '"double"',
          '$dollar',
          '$(not run)',
          'back`tick`',
          'home=/root',
          '',
        ].join('\n'),
      );
      const brief = (c: RootChange) => `${c.change} ${c.path} ${c.type} ${c.uid}:${c.gid} ${c.mode.toString(8)}`;
      expect(result.changes.map(brief)).toEqual([
        `added /bin/hello symlink 0:0 777`,
        'modified /bin/su file 0:0 4755',
        'modified /etc/group file 0:0 644',
        'added /etc/motd file 0:0 644',
        'deleted /etc/old-motd file 0:0 644',
        'modified /etc/passwd file 0:0 644',
        'added /home directory 0:0 755',
        'added /home/u directory 1000:1000 755',
        'added /srv directory 0:0 755',
        'added /srv/null char 0:0 644',
        'deleted /var/cache directory 0:0 755',
      ]);
      expect(result.changes.find((c) => c.path === '/bin/hello')?.target).toBe(`${closure.hello}/bin/hello`);
      expect(result.changes.find((c) => c.path === '/srv/null')?.rdev).toEqual({ major: 1, minor: 3 });
      // The caller's tree is untouched, and nothing is left in the temp dir.
      expect(await readlink(join(root, 'etc/passwd-link'))).toBe('passwd');
      expect(await listTree(root)).toContain('f /etc/old-motd');
      expect(await readdir(tmp)).toEqual([]);
      // The kept output root holds the changed files in host form, ready for a layer.
      expect(await readlink(join(outputDir, 'bin/hello'))).toBe(`${closure.hello}/bin/hello`);
      expect(await readlink(join(outputDir, 'etc/passwd-link'))).toBe('passwd');
      expect(await readFile(join(outputDir, 'etc/motd'), 'utf8')).toBe('written');
      expect(await listTree(outputDir)).not.toContain('f /etc/old-motd');
      expect((await lstat(join(outputDir, 'srv/null'))).isFile()).toBe(true);
    });
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

  it('kills a hanging script at the timeout and leaves no VM and no temp files', async () => {
    await withRoot(async () => {}, async (root, tmp) => {
      const run = runAsRoot(root, 'sleep 1000', { cacheDir: cache.path, tmpDir: tmp, accel: 'tcg', timeoutMs: 20_000 });
      await expect(run).rejects.toBeInstanceOf(VmTimeoutError);
      await expect(run).rejects.toThrow(/within 20000 ms/);
      expect(await processMentions(tmp)).toBe(false);
      expect(await readdir(tmp)).toEqual([]);
    });
  });

  it('kills the VM when the signal aborts, mid-script, and cleans up', async () => {
    await withRoot(async () => {}, async (root, tmp) => {
      const controller = new AbortController();
      const run = runAsRoot(root, 'touch /started; sleep 1000', { cacheDir: cache.path, tmpDir: tmp, accel: 'tcg', signal: controller.signal });
      run.catch(() => {});
      // The script's file appears in the working copy once the guest runs it.
      await waitFor(async () => (await readdir(tmp).catch(() => [])).some((d) => d.startsWith('strata-vm-') && hasStarted(join(tmp, d))), 120_000);
      expect(await processMentions(tmp)).toBe(true);
      controller.abort(new DOMException('stop', 'AbortError'));
      await expect(run).rejects.toThrow('stop');
      expect(await processMentions(tmp)).toBe(false);
      expect(await readdir(tmp)).toEqual([]);
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
  return existsSync(join(work, 'root/started'));
}
