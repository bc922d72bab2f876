import { lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildHelloClosure, type HelloClosure, hasPeers, makeTempDir, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PathOwnership, type RootChange, runAsRoot } from '../src/index.js';
import { listTree, withRoot } from './_fixtures.js';

// What buildImage needs from runAsRoot: the image's owners going in, and exactly the layer coming out.
const peers = hasPeers('qemu-system-x86_64', 'busybox', 'nix-build', 'getfattr', 'setfattr');
const store = [{ host: '/nix/store', guest: '/nix/store' }];
const brief = (c: RootChange) => `${c.change} ${c.path} ${c.type} ${c.uid}:${c.gid} ${c.mode.toString(8)}${c.opaque ? ' opaque' : ''}`;

describe.runIf(peers)('runAsRoot as a layer builder', () => {
  let closure: HelloClosure;
  let cache: TempDir;

  beforeAll(async () => {
    closure = await buildHelloClosure();
    cache = await makeTempDir('strata-vm-cache-');
  });
  afterAll(async () => {
    await cache?.remove();
  });

  async function baseImage(root: string): Promise<void> {
    for (const d of ['etc', 'bin', 'var/cache/fonts', 'opt/app', 'srv/www']) await mkdir(join(root, d), { recursive: true });
    await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    await writeFile(join(root, 'etc/group'), 'root:x:0:\n');
    await writeFile(join(root, 'etc/old-motd'), 'old\n');
    await writeFile(join(root, 'etc/motd.d'), 'a file that becomes a directory\n');
    await writeFile(join(root, 'bin/su'), 'not really su\n', { mode: 0o755 });
    await writeFile(join(root, 'var/cache/fonts/index'), 'x');
    await writeFile(join(root, 'opt/app/config'), 'old config\n');
    await writeFile(join(root, 'opt/app/data'), 'old data\n');
    await writeFile(join(root, 'srv/www/index.html'), '<p>a directory that becomes a file</p>\n');
    await symlink('passwd', join(root, 'etc/passwd-link'));
  }

  it('reports additions, modifications, deletions, type changes and a recreated (opaque) directory, and keeps exactly those in outputDir', async () => {
    const script = [
      'set -e',
      "echo 'u:x:1000:1000::/home/u:/bin/sh' >> /etc/passwd",
      "echo 'u:x:1000:' >> /etc/group",
      'mkdir -p /home/u && chown 1000:1000 /home/u',
      'chmod 4755 /bin/su',
      "printf 'written' > /etc/motd",
      'rm /etc/old-motd',
      'rm -rf /var/cache',
      'rm -rf /opt/app && mkdir /opt/app && echo "new config" > /opt/app/config',
      'rm -rf /srv/www && echo now-a-file > /srv/www',
      'rm /etc/motd.d && mkdir /etc/motd.d && echo hi > /etc/motd.d/10-hi',
      'mknod /srv/null c 1 3',
      'mkdir /run && mkfifo /run/fifo',
      `ln -s ${closure.hello}/bin/hello /bin/hello`,
      'hello',
      'cat /etc/passwd-link',
      'echo scratch > /tmp/not-in-the-layer',
      `printf '%s\\n' "(parens)" "'single'" '"double"' '$dollar' "\\$(not run)" 'back\`tick\`'`,
      'echo "home=$HOME"',
    ].join('\n');
    await withRoot(baseImage, async (root, tmp) => {
      const outputDir = join(tmp, '..', 'out');
      const result = await runAsRoot(root, script, { mounts: store, cacheDir: cache.path, tmpDir: tmp, outputDir, accel: 'tcg' });
      expect(result.stderr.toString()).toBe('');
      expect(result.exitCode).toBe(0);
      expect(result.stdout.toString()).toBe(
        [
          'Hello, world!',
          `from ${closure.hello}`,
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
      expect(result.changes.map(brief)).toEqual([
        'added /bin/hello symlink 0:0 777',
        'modified /bin/su file 0:0 4755',
        'modified /etc/group file 0:0 644',
        'added /etc/motd file 0:0 644',
        'modified /etc/motd.d directory 0:0 755',
        'added /etc/motd.d/10-hi file 0:0 644',
        'deleted /etc/old-motd file 0:0 644',
        'modified /etc/passwd file 0:0 644',
        'added /home directory 0:0 755',
        'added /home/u directory 1000:1000 755',
        'modified /opt/app directory 0:0 755 opaque',
        'added /opt/app/config file 0:0 644',
        'added /run directory 0:0 755',
        'added /run/fifo fifo 0:0 644',
        'added /srv/null char 0:0 644',
        'modified /srv/www file 0:0 644',
        'deleted /var/cache directory 0:0 755',
      ]);
      expect(result.changes.find((c) => c.path === '/bin/hello')?.target).toBe(`${closure.hello}/bin/hello`);
      expect(result.changes.find((c) => c.path === '/srv/null')?.rdev).toEqual({ major: 1, minor: 3 });
      // The caller's tree is untouched, and nothing is left in the temp dir.
      expect(await readlink(join(root, 'etc/passwd-link'))).toBe('passwd');
      expect(await readFile(join(root, 'opt/app/data'), 'utf8')).toBe('old data\n');
      // outputDir holds the layer's content: the changed paths and the directories holding them, nothing else.
      expect(await listTree(outputDir)).toEqual([
        'd /bin',
        'd /etc',
        'd /etc/motd.d',
        'd /home',
        'd /home/u',
        'd /opt',
        'd /opt/app',
        'd /run',
        'd /srv',
        'f /bin/su',
        'f /etc/group',
        'f /etc/motd',
        'f /etc/motd.d/10-hi',
        'f /etc/passwd',
        'f /opt/app/config',
        'f /run/fifo',
        'f /srv/null',
        'f /srv/www',
        'l /bin/hello',
      ]);
      expect(await readlink(join(outputDir, 'bin/hello'))).toBe(`${closure.hello}/bin/hello`);
      expect(await readFile(join(outputDir, 'etc/motd'), 'utf8')).toBe('written');
      expect(await readFile(join(outputDir, 'opt/app/config'), 'utf8')).toBe('new config\n');
      expect(await readFile(join(outputDir, 'srv/www'), 'utf8')).toBe('now-a-file\n');
      expect((await lstat(join(outputDir, 'srv/null'))).size).toBe(0);
    });
  });

  it("presents the image's owners, modes and device nodes from an ownership map, and reports only what the script changed", async () => {
    const ownership = new Map<string, PathOwnership>([
      ['/etc/shadow', { uid: 0, gid: 42, mode: 0o640 }],
      ['/home/u', { uid: 1000, gid: 1000, mode: 0o700 }],
      ['/home/u/.profile', { uid: 1000, gid: 1000, mode: 0o100600 }],
      ['/usr/bin/sudo', { mode: 0o4755 }],
      ['/srv/data', { mode: 0o1777 }],
      ['/lib/console', { uid: 0, gid: 5, mode: 0o620, device: { type: 'char', major: 5, minor: 1 } }],
      ['/lib/null', { mode: 0o666, device: { type: 'char', major: 1, minor: 3 } }],
      ['/lib/initctl', { mode: 0o600, device: { type: 'fifo', major: 0, minor: 0 } }],
      ['/etc/untouched', { uid: 1000, gid: 1000 }],
    ]);
    const fill = async (root: string) => {
      for (const d of ['etc', 'home/u', 'usr/bin', 'srv/data', 'lib']) await mkdir(join(root, d), { recursive: true });
      await writeFile(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
      await writeFile(join(root, 'etc/hostname'), 'box\n');
      await writeFile(join(root, 'etc/shadow'), 'root:*::0:::::\n');
      await writeFile(join(root, 'etc/untouched'), 'owned by 1000 in the image\n');
      await writeFile(join(root, 'home/u/.profile'), 'export A=1\n');
      await writeFile(join(root, 'usr/bin/sudo'), 'not really sudo\n', { mode: 0o755 });
      // An unprivileged unpack leaves placeholders for device nodes and fifos, or nothing (/lib/null).
      await writeFile(join(root, 'lib/console'), '');
      await writeFile(join(root, 'lib/initctl'), '');
    };
    const script = [
      'set -e',
      "stat -c '%n %u:%g %a %F' /etc/shadow /home/u /home/u/.profile /usr/bin/sudo /srv/data /lib/console /lib/null /lib/initctl /etc/untouched",
      "stat -c '%n %t:%T' /lib/console /lib/null",
      // Touched, opened for appending, chowned and chmoded to what they were: none of it is a change.
      'touch /etc/hostname',
      ': >> /etc/passwd',
      'chown 0:0 /etc/passwd && chmod 644 /etc/passwd',
      'cat /etc/untouched > /dev/null',
      "echo 'export B=2' >> /home/u/.profile",
      'chown 2000 /etc/shadow',
      "awk '/^MemTotal/ { print $2 }' /proc/meminfo",
    ].join('\n');
    await withRoot(fill, async (root, tmp) => {
      const result = await runAsRoot(root, script, { cacheDir: cache.path, tmpDir: tmp, accel: 'tcg', ownership, buildVMMemorySize: 256 });
      expect(result.stderr.toString()).toBe('');
      expect(result.exitCode).toBe(0);
      const lines = result.stdout.toString().trimEnd().split('\n');
      expect(lines.slice(0, 11)).toEqual([
        '/etc/shadow 0:42 640 regular file',
        '/home/u 1000:1000 700 directory',
        '/home/u/.profile 1000:1000 600 regular file',
        '/usr/bin/sudo 0:0 4755 regular file',
        '/srv/data 0:0 1777 directory',
        '/lib/console 0:5 620 character special file',
        '/lib/null 0:0 666 character special file',
        '/lib/initctl 0:0 600 fifo',
        '/etc/untouched 1000:1000 644 regular file',
        '/lib/console 5:1',
        '/lib/null 1:3',
      ]);
      // buildVMMemorySize sizes the guest: 256 MiB less what the kernel keeps for itself.
      const memKiB = Number(lines[11]);
      expect(memKiB).toBeGreaterThan(128 * 1024);
      expect(memKiB).toBeLessThanOrEqual(256 * 1024);
      expect(result.changes.map(brief)).toEqual(['modified /etc/shadow file 2000:42 640', 'modified /home/u/.profile file 1000:1000 600']);
      expect(await readdir(tmp)).toEqual([]);
    });
  });
});
