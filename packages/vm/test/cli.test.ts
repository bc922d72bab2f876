import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildHelloClosure, hasPeers, makeTempDir, runStrata } from '@strata/test-utils';
import { describe, expect, it } from 'vitest';

describe.runIf(hasPeers('qemu-system-x86_64', 'busybox', 'nix-build', 'getfattr', 'setfattr'))('strata vm run', () => {
  it("prints the script's output, then the changes as JSON lines, and exits with the script's code", async () => {
    const { greeting } = await buildHelloClosure();
    const dir = await makeTempDir('strata-vm-cli-');
    try {
      const root = join(dir.path, 'root');
      await mkdir(join(root, 'etc'), { recursive: true });
      await writeFile(join(root, 'etc/os-release'), 'ID=strata\n');
      const script = join(dir.path, 'script.sh');
      // The script file is bytes, not necessarily UTF-8: a latin-1 é must reach the guest as 0xe9.
      const text = `cat ${greeting}/share/greeting/message\nchmod 4755 /etc/os-release\nmkdir /run && chown 33:44 /run\necho 'caf\xe9' | od -An -tx1 >&2\necho oops >&2\nexit 5\n`;
      await writeFile(script, Buffer.from(text, 'latin1'));
      const result = await runStrata(['vm', 'run', '--root', root, '--mount', '/nix/store:/nix/store', '--accel', 'tcg', script], {
        env: { STRATA_CACHE_DIR: join(dir.path, 'cache'), TMPDIR: dir.path },
      });
      expect(result.exitCode).toBe(5);
      expect(result.stderr).toContain('oops\n');
      expect(result.stderr).toMatch(/^ *63 61 66 e9 0a *$/m);
      expect(result.stderr).toContain('vm: accel tcg, exit code 5');
      const [first, ...lines] = result.stdout.split('\n').filter(Boolean);
      expect(first).toBe('Hello, world!');
      expect(lines.map((l) => JSON.parse(l))).toEqual([
        { path: '/etc/os-release', change: 'modified', type: 'file', uid: 0, gid: 0, mode: '4755' },
        { path: '/run', change: 'added', type: 'directory', uid: 33, gid: 44, mode: '0755' },
      ]);
      const usage = await runStrata(['vm', 'run', '--root', root, '--mount', 'nocolon', script]);
      expect(usage.exitCode).toBe(2);
      expect(usage.stderr).toContain('--mount expects HOST:GUEST');
    } finally {
      await dir.remove();
    }
  });
});
