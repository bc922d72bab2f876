import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildNix, hasPeers, makeTempDir, run, shDerivation, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinContents, runCustomisationScripts } from '../src/index.js';

// nixpkgs runs extraCommands and fakeRootCommands as an unprivileged build user: a script that
// writes through a contents symlink (bin/tool -> /nix/store/…/bin/tool) fails there. Run as root,
// strata's scripts used to modify the store path itself, and ship the modified bytes.

describe.runIf(hasPeers('nix-build', 'nix-store', 'fakeroot', 'proot'))('the customisation scripts and the store', () => {
  let dir: TempDir;
  let tool: string | undefined;
  beforeAll(async () => {
    dir = await makeTempDir('strata-store-readonly-');
    // A store path of this test's own (a random name), so a failure never touches a shared one.
    const name = `strata-readonly-${randomBytes(6).toString('hex')}`;
    const [out] = await buildNix(shDerivation(name, 'mkdir -p $out/bin; echo original > $out/bin/tool; chmod 0755 $out/bin/tool'));
    tool = out!;
  });
  afterAll(async () => {
    // Nothing refers to it (built with --no-out-link): remove it from the shared store.
    if (tool) await run('nix-store', ['--delete', tool], { allowFailure: true });
    await dir.remove();
  });

  const verify = () => run('nix-store', ['--verify-path', tool!], { allowFailure: true });

  it.each([
    ['extraCommands', { extraCommands: 'echo modified >> bin/tool' }],
    ['extraCommands (chmod first)', { extraCommands: 'chmod u+w bin/tool; echo modified > bin/tool' }],
    ['fakeRootCommands', { fakeRootCommands: 'echo modified >> bin/tool' }],
    ['fakeRootCommands under fakechroot', { fakeRootCommands: `echo modified >> ${'$'}(readlink /bin/tool)`, enableFakechroot: true }],
  ])('%s cannot write a store path through a contents symlink', async (what, scripts) => {
    const root = join(dir.path, `layer-${what.replaceAll(' ', '-')}`);
    await joinContents([tool!], root);
    const result = await runCustomisationScripts(root, scripts).then(
      () => 'succeeded',
      (e: Error) => e.message,
    );
    expect(result).toMatch(/failed \(exit 1\):\n.*(Read-only file system|Permission denied)/);
    expect(await readFile(join(tool!, 'bin/tool'), 'utf8')).toBe('original\n');
    const verified = await verify();
    expect([verified.exitCode, verified.stderr]).toEqual([0, '']);
  });

  it('still lets extraCommands write the layer directory, read store paths and create files as nixpkgs does', async () => {
    const root = join(dir.path, 'layer-ok');
    await joinContents([tool!], root);
    await mkdir(join(root, 'etc'));
    await writeFile(join(root, 'etc/existing'), 'x');
    const { output } = await runCustomisationScripts(root, {
      extraCommands: 'cat bin/tool > copied; mkdir -p var/lib; echo more >> etc/existing; rm bin/tool; echo replaced > bin/tool; id -u',
      fakeRootCommands: 'chown 1000:1000 copied; echo $(id -u) > fakeroot-uid',
    });
    expect(output).toBe('0\n');
    expect(await readFile(join(root, 'copied'), 'utf8')).toBe('original\n');
    expect(await readFile(join(root, 'etc/existing'), 'utf8')).toBe('xmore\n');
    expect(await readFile(join(root, 'bin/tool'), 'utf8')).toBe('replaced\n');
    expect(await readFile(join(root, 'fakeroot-uid'), 'utf8')).toBe('0\n');
    expect(await readFile(join(tool!, 'bin/tool'), 'utf8')).toBe('original\n');
  });
});

describe.runIf(hasPeers('fakeroot'))('the customisation scripts and a chroot store', () => {
  it('cannot write the chroot store either, even a file whose mode allows it', async () => {
    const dir = await makeTempDir('strata-store-readonly-chroot-');
    try {
      const file = join(dir.path, 'store/nix/store/00000000000000000000000000000000-x/writable');
      await mkdir(join(file, '..'), { recursive: true });
      await writeFile(file, 'original\n', { mode: 0o666 });
      const root = join(dir.path, 'layer');
      await mkdir(root);
      for (const scripts of [{ extraCommands: `echo modified > ${file}` }, { fakeRootCommands: `echo modified > ${file}` }]) {
        await expect(runCustomisationScripts(root, { ...scripts, storeRoot: join(dir.path, 'store') })).rejects.toThrow(/Read-only file system/);
      }
      expect(await readFile(file, 'utf8')).toBe('original\n');
    } finally {
      await dir.remove();
    }
  });
});

describe.runIf(process.getuid?.() === 0)('the customisation scripts where namespaces are not available', () => {
  it('says so, and root still runs them without capabilities', async () => {
    const dir = await makeTempDir('strata-store-readonly-nons-');
    const path = process.env.PATH;
    try {
      // A PATH with bash and setpriv but no unshare stands for a system that denies namespaces.
      const bin = join(dir.path, 'bin');
      await mkdir(bin);
      for (const tool of ['bash', 'setpriv']) await run('ln', ['-s', (await run('which', [tool])).stdout.trim(), join(bin, tool)]);
      const readOnly = join(dir.path, 'read-only');
      await writeFile(readOnly, 'original\n', { mode: 0o444 });
      const root = join(dir.path, 'layer');
      await mkdir(root);
      process.env.PATH = bin;
      await expect(runCustomisationScripts(root, { extraCommands: `echo modified >> ${readOnly}` })).rejects.toThrow(/Permission denied/);
      const { notices } = await runCustomisationScripts(root, { extraCommands: 'echo fine > here' });
      expect(notices).toEqual(['the customisation scripts run without a private mount namespace (unshare is not installed): the store is protected by its permissions only']);
      expect(await readFile(readOnly, 'utf8')).toBe('original\n');
    } finally {
      process.env.PATH = path;
      await dir.remove();
    }
  });
});
