import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasPeers, makeTempDir, run, type TempDir } from '@strata/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CustomisationError, runCustomisationScripts } from '../src/index.js';

let dir: TempDir;
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(() => dir.remove());

describe.runIf(hasPeers('fakeroot', 'proot'))('runCustomisationScripts', () => {
  it('runs extraCommands in the layer directory with quotes, parentheses and $ intact', async () => {
    const script = `echo "(parens) 'quotes' \\$HOME=$HOME" > ./extraCommands; mkdir -p tmp`;
    const result = await runCustomisationScripts(dir.path, { extraCommands: script });
    expect(await readFile(join(dir.path, 'extraCommands'), 'utf8')).toBe(`(parens) 'quotes' $HOME=${process.env.HOME}\n`);
    expect(result.ownership.size).toBe(0);
  });

  it('records ownership, setuid modes and device nodes set under fakeroot', async () => {
    await mkdir(join(dir.path, 'home/alice'), { recursive: true });
    await writeFile(join(dir.path, 'app'), '#!/bin/sh\n');
    const { ownership } = await runCustomisationScripts(dir.path, {
      fakeRootCommands: 'chown 1000:100 ./home/alice; chmod 4755 ./app; mknod ./null c 1 3; mkfifo ./fifo',
    });
    expect(ownership.get('/home/alice')).toMatchObject({ uid: 1000, gid: 100, mode: 0o755 });
    expect(ownership.get('/app')).toMatchObject({ uid: 0, gid: 0, mode: 0o4755 });
    expect(ownership.get('/null')).toMatchObject({ device: { type: 'char', major: 1, minor: 3 } });
    expect((await lstat(join(dir.path, 'null'))).isFile()).toBe(true); // on disk it stays a plain file
    // mkfifo needs no privilege: fakeroot lets it really happen, so the packer sees a FIFO on disk.
    expect((await lstat(join(dir.path, 'fifo'))).isFIFO()).toBe(true);
  });

  it('with enableFakechroot the layer directory is / and absolute paths land in it', async () => {
    const { ownership } = await runCustomisationScripts(dir.path, {
      enableFakechroot: true,
      fakeRootCommands: 'mkdir /bin && ln -s /nix/store/x-hello/bin/hello /bin/hello && touch /testfile && chown 12345:12345 /testfile && test -d /nix/store',
    });
    expect(await readlink(join(dir.path, 'bin/hello'))).toBe('/nix/store/x-hello/bin/hello');
    expect(ownership.get('/testfile')).toMatchObject({ uid: 12345, gid: 12345 });
    // Nothing bound into the chroot leaks into the layer directory.
    for (const leaked of ['usr', 'nix', 'proc', 'dev', 'sys', 'lib64', '.strata-fakeroot']) {
      await expect(lstat(join(dir.path, leaked)), leaked).rejects.toThrow();
    }
  });

  it('fails with the script stderr and exit code', async () => {
    const failing = runCustomisationScripts(dir.path, { fakeRootCommands: 'echo broken >&2; exit 3' });
    await expect(failing).rejects.toSatisfy(
      (e) => e instanceof CustomisationError && e.code === 'SCRIPT_FAILED' && /fakeRootCommands failed \(exit 3\):\nbroken/.test(e.message),
    );
    await expect(runCustomisationScripts(dir.path, { extraCommands: 'false; echo not reached > x' })).rejects.toThrow(/extraCommands failed \(exit 1\)/);
  });

  it('on abort stops the whole script, fakeroot daemon included, instead of waiting for it', async () => {
    // The script runs in a process group of its own: a signal to strata alone (kill, a CI timeout)
    // must not leave it running, nor leave fakeroot's faked behind with its state file deleted.
    const orphanedFakeds = async () => {
      const { stdout } = await run('ps', ['-eo', 'pid=,args='], { allowFailure: true });
      return stdout.split('\n').filter((line) => {
        const file = /faked\S* .*--save-file (\S+)/.exec(line)?.[1];
        return file?.includes('strata-fakeroot-') && !existsSync(file.slice(0, file.lastIndexOf('/')));
      });
    };
    const before = new Set(await orphanedFakeds());
    const controller = new AbortController();
    setTimeout(() => controller.abort(new DOMException('interrupted', 'AbortError')), 1000);
    const marker = join(dir.path, 'still-running');
    const script = runCustomisationScripts(dir.path, { fakeRootCommands: `sleep 20; touch ${marker}`, signal: controller.signal });
    await expect(script).rejects.toMatchObject({ name: 'AbortError' });
    expect((await orphanedFakeds()).filter((line) => !before.has(line))).toEqual([]);
    const { stdout } = await run('ps', ['-eo', 'args='], { allowFailure: true });
    expect(stdout).not.toContain(`touch ${marker}`);
  }, 15_000);
});

describe('runCustomisationScripts without its tools', () => {
  it('names the missing program and the Debian package to install', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await expect(runCustomisationScripts(dir.path, { fakeRootCommands: 'true' })).rejects.toSatisfy(
        (e) => e instanceof CustomisationError && e.code === 'TOOL_MISSING' && /fakeRootCommands needs bash/.test(e.message),
      );
      // bash found through a directory that has it but not fakeroot or proot:
      const bin = await mkdtemp(join(dir.path, 'bin-'));
      await symlink('/bin/bash', join(bin, 'bash'));
      process.env.PATH = bin;
      await expect(runCustomisationScripts(dir.path, { fakeRootCommands: 'true' })).rejects.toThrow(
        'fakeRootCommands needs fakeroot, which is not installed (Debian: apt-get install fakeroot)',
      );
      await symlink('/usr/bin/fakeroot', join(bin, 'fakeroot'));
      await expect(runCustomisationScripts(dir.path, { fakeRootCommands: 'true', enableFakechroot: true })).rejects.toThrow(
        'enableFakechroot needs proot, which is not installed (Debian: apt-get install proot)',
      );
    } finally {
      process.env.PATH = path;
    }
  });
});

