import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildHelloClosure, hasPeers, makeTempDir, repoRoot, runStrata } from '@strata/test-utils';
import { describe, expect, it } from 'vitest';
import { processMentions, waitFor, withRoot } from './_fixtures.js';

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
      await mkdir(join(root, 'opt/app'), { recursive: true });
      await writeFile(join(root, 'opt/app/old'), 'old\n');
      await writeFile(join(dir.path, 'ownership.json'), JSON.stringify({ '/etc/os-release': { uid: 1000, gid: 1000, mode: '640' } }));
      const text = [
        `cat ${greeting}/share/greeting/message`,
        "stat -c '%u:%g %a' /etc/os-release",
        'chmod 4755 /etc/os-release',
        'mkdir /run && chown 33:44 /run && ln -s /etc/os-release /run/link',
        'rm -rf /opt/app && mkdir /opt/app',
        "echo 'caf\xe9' | od -An -tx1 >&2",
        'echo oops >&2',
        'exit 5',
        '',
      ].join('\n');
      await writeFile(script, Buffer.from(text, 'latin1'));
      const output = join(dir.path, 'layer');
      const flags = ['--mount', '/nix/store:/nix/store', '--accel', 'tcg', '--disk-size', '64', '--memory', '256'];
      const result = await runStrata(['vm', 'run', '--root', root, ...flags, '--ownership', join(dir.path, 'ownership.json'), '--output-dir', output, script], {
        env: { STRATA_CACHE_DIR: join(dir.path, 'cache'), TMPDIR: dir.path },
      });
      expect(result.exitCode).toBe(5);
      expect(result.stderr).toContain('oops\n');
      expect(result.stderr).toMatch(/^ *63 61 66 e9 0a *$/m);
      expect(result.stderr).toContain('vm: accel tcg, exit code 5');
      const [first, owner, ...lines] = result.stdout.split('\n').filter(Boolean);
      expect(first).toBe('Hello, world!');
      expect(owner).toBe('1000:1000 640');
      expect(lines.map((l) => JSON.parse(l))).toEqual([
        { path: '/etc/os-release', change: 'modified', type: 'file', uid: 1000, gid: 1000, mode: '4755' },
        { path: '/opt/app', change: 'modified', type: 'directory', uid: 0, gid: 0, mode: '0755', opaque: true },
        { path: '/run', change: 'added', type: 'directory', uid: 33, gid: 44, mode: '0755' },
        { path: '/run/link', change: 'added', type: 'symlink', uid: 0, gid: 0, mode: '0777', target: '/etc/os-release' },
      ]);
      expect(await readFile(join(output, 'etc/os-release'), 'utf8')).toBe('ID=strata\n');
      expect(await readlink(join(output, 'run/link'))).toBe('/etc/os-release');
      expect(await readdir(join(output, 'opt/app'))).toEqual([]);
      const usage = await runStrata(['vm', 'run', '--root', root, '--mount', 'nocolon', script]);
      expect(usage.exitCode).toBe(2);
      expect(usage.stderr).toContain('--mount expects HOST:GUEST');
      await writeFile(join(dir.path, 'ownership.json'), JSON.stringify({ '/etc/os-release': { mode: 'rw-r--r--' } }));
      const badMap = await runStrata(['vm', 'run', '--root', root, '--ownership', join(dir.path, 'ownership.json'), script]);
      expect(badMap.exitCode).toBe(2);
      expect(badMap.stderr).toContain(`--ownership ${join(dir.path, 'ownership.json')}: ownership["/etc/os-release"].mode:`);
      const badSize = await runStrata(['vm', 'run', '--root', root, '--disk-size', '0', script]);
      expect(badSize.exitCode).toBe(2);
      expect(badSize.stderr).toContain('vm run: --disk-size expects a positive integer, got "0"');
    } finally {
      await dir.remove();
    }
  });
});

describe.runIf(hasPeers('qemu-system-x86_64', 'busybox', 'getfattr', 'setfattr'))('strata vm run when the script does not finish', () => {
  it("shows the script's output at a timeout, and leaves nothing behind after repeated Ctrl-C", async () => {
    await withRoot(async () => {}, async (root, tmp) => {
      const script = join(tmp, '..', 'script.sh');
      await writeFile(script, 'echo started\necho "still going" >&2\nsleep 1000\n');
      const cache = join(tmp, '..', 'cache');
      // Long enough for the boot on a busy machine, so the script has printed before the VM is killed.
      const timedOut = runStrata(['vm', 'run', '--root', root, '--accel', 'tcg', '--timeout', '60', script], {
        env: { STRATA_CACHE_DIR: cache, TMPDIR: join(tmp, '..') },
      });
      // The second run is interrupted mid-script with SIGINT, then again and again during its cleanup.
      const bin = join(repoRoot(), 'packages/cli/dist/bin.js');
      const child = spawn(process.execPath, [bin, 'vm', 'run', '--root', root, '--accel', 'tcg', script], {
        env: { ...process.env, STRATA_CACHE_DIR: cache, TMPDIR: tmp },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const exited = new Promise<number | string | null>((resolve) => child.once('close', (code, signal) => resolve(code ?? signal)));
      await waitFor(async () => (await readdir(tmp)).some((d) => started(join(tmp, d))), 120_000);
      for (let i = 0; i < 5; i++) {
        child.kill('SIGINT');
        await new Promise((r) => setTimeout(r, 5));
      }
      // A shell reports both as 130. A signal can still end the process once main() has returned and
      // Node tears down its handlers; by then the message below proves the cleanup had finished.
      expect([130, 'SIGINT']).toContain(await exited);
      expect(stderr).toContain('strata: interrupted');
      expect(await readdir(tmp)).toEqual([]);
      expect(await processMentions(tmp)).toBe(false);

      const result = await timedOut;
      expect(result.exitCode).toBe(1);
      expect(result.stdout).toBe('started\n');
      expect(result.stderr).toContain('still going\n');
      expect(result.stderr).toContain('strata: TIMEOUT: vm: script did not finish within 60000 ms; the VM was killed (its output so far: 8 bytes on stdout, 12 on stderr)');
    });
  });
});

function started(work: string): boolean {
  try {
    return readFileSync(join(work, 'ctl/stdout'), 'utf8') === 'started\n';
  } catch {
    return false;
  }
}
