import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  buildHelloClosure,
  hasPeers,
  makeTempDir,
  podmanRemove,
  podmanRun,
  run,
  runStrata,
  type TempDir,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixtures, buildWithCli, type Fixtures } from './_build-image.js';

// nixpkgs' runAsRoot cases, run for real: the script runs as root in a QEMU VM (TCG here) over the
// base image's layers with copyToRoot on top; podman runs what strata made of its changes.

describe.runIf(hasPeers('nix-build', 'podman', 'qemu-system-x86_64', 'busybox', 'getfattr', 'setfattr'))('build-image --run-as-root', () => {
  let fx: Fixtures;
  let dir: TempDir;
  const loaded: string[] = [];
  const unique = (prefix = 'strata-cli-run-as-root') => `${prefix}-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    fx = await buildFixtures(await buildHelloClosure());
    dir = await makeTempDir('strata-cli-run-as-root-');
  });
  afterAll(async () => {
    for (const image of loaded) await podmanRemove(image);
    await dir.remove();
  });

  const build = (args: readonly string[], options: { load?: boolean; compressor?: string } = {}) => buildWithCli(dir.path, loaded, args, options);

  const sh = (image: string, script: string) => podmanRun(image, ['/bin/sh', '-c', script]);

  it('13 (#34779): runAsRoot and extraCommands both run, parentheses and quotes intact; the output is shown; rebuilds are identical', async () => {
    const args = [
      '--name', unique(), '--tag', 'latest', '--copy-to-root', fx.root,
      '--extra-commands', 'echo "(extraCommand)" > extraCommands',
      '--run-as-root', 'echo "(runAsRoot)" > runAsRoot; echo "said (something)"; mkdir -p /home/u && chown 1000:100 /home/u',
    ];
    const { image, stderr, archive } = await build(args);
    expect(stderr).toContain('strata: said (something)');
    const again = await build(args, { load: false });
    expect((await readFile(again.archive)).equals(await readFile(archive))).toBe(true);
    expect((await sh(image, 'cat /extraCommands /runAsRoot')).stdout).toBe('(extraCommand)\n(runAsRoot)\n');
    // nixpkgs gives runAsRoot images a /tmp.
    expect((await sh(image, 'stat -c %a /tmp')).stdout).toBe('1777\n');
  });

  it('18: layersUnpackOrder: three chained runAsRoot images see their bases unpacked in order', async () => {
    let base: string | undefined;
    let last = { archive: '', image: '', stderr: '' };
    for (const letter of ['a', 'b', 'c']) {
      const script = `#!${fx.busybox}/bin/sh\necho -n "${letter}" >> /layer-order\n`;
      last = await build(['--name', unique(), '--tag', letter, '--copy-to-root', fx.root, '--run-as-root', script, ...(base ? ['--from-image', base] : [])], { load: letter === 'c' });
      base = last.archive;
    }
    expect((await sh(last.image, 'cat /layer-order')).stdout).toBe('abc');
  });

  it('19: a base whose manifest lists the same layer twice is unpacked once, and runs', async () => {
    const empty = await build(['--name', unique(), '--tag', 'e1'], { load: false });
    const twice = await build(['--name', unique(), '--tag', 'e2', '--from-image', empty.archive], { load: false });
    const unpacked = join(dir.path, 'repeated');
    await mkdir(unpacked);
    await run('tar', ['-C', unpacked, '-xf', twice.archive]);
    const manifest = JSON.parse(await readFile(join(unpacked, 'manifest.json'), 'utf8')) as { Layers: string[] }[];
    const [first, second] = manifest[0]!.Layers as [string, string];
    await rename(join(unpacked, first), join(unpacked, 'shared.tar'));
    await rm(join(unpacked, second));
    await symlink('../shared.tar', join(unpacked, first));
    await symlink('../shared.tar', join(unpacked, second));
    manifest[0]!.Layers = ['shared.tar', 'shared.tar'];
    await writeFile(join(unpacked, 'manifest.json'), JSON.stringify(manifest));
    const base = join(dir.path, 'repeated.tar');
    await run('tar', ['-C', unpacked, '--sort=name', '-cf', base, '.']);
    const { image, stderr } = await build(['--name', unique(), '--tag', 'repeated', '--from-image', base, '--copy-to-root', fx.root, '--run-as-root', "echo 'runAsRoot has run.'"]);
    expect(stderr).toContain('runAsRoot has run.');
    const r = await sh(image, 'exit 0');
    expect(r.exitCode, r.stderr).toBe(0);
  });

  it('on a layered base: a base file the script deletes is gone, its chown shows in stat, and export has no whiteout', async () => {
    const layered = join(dir.path, 'layered-base.tar');
    const made = await runStrata([
      'build-layered', '--name', unique(), '--tag', 'base', '--contents', fx.root, '--compressor', 'none', '-o', layered,
      '--extra-commands', 'mkdir -p etc data && echo doomed > etc/doomed && echo kept > etc/kept && echo mine > data/file',
    ]);
    expect(made.exitCode, made.stderr).toBe(0);
    const { image, archive } = await build([
      '--name', unique(), '--tag', 'latest', '--from-image', layered,
      '--run-as-root', 'rm /etc/doomed && chown 1234:5678 /data/file && mkdir -p /home/u && chown 1000:100 /home/u',
    ]);
    const seen = await sh(image, 'test -e /etc/doomed && echo still there; cat /etc/kept; stat -c %u:%g /data/file /home/u; cat /data/file');
    expect(seen.stdout).toBe('kept\n1234:5678\n1000:100\nmine\n');
    const rootfs = join(dir.path, 'exported.tar');
    const exported = await runStrata(['export', archive, '-o', rootfs]);
    expect(exported.exitCode, exported.stderr).toBe(0);
    const names = (await run('tar', ['-tf', rootfs])).stdout.split('\n');
    expect(names.some((n) => n.includes('.wh.'))).toBe(false);
    expect(names.some((n) => n.endsWith('etc/doomed'))).toBe(false);
    expect(names.some((n) => n.endsWith('etc/kept'))).toBe(true);
  });

  it('bad input: a failing script shows its stderr (exit 1), one over diskSize fails clearly; nothing is left', async () => {
    const tmp = join(dir.path, 'tmp');
    const out = join(dir.path, 'bad');
    await mkdir(tmp);
    await mkdir(out);
    const strata = (args: string[]) => runStrata(['build-image', '--name', 'bad', '--copy-to-root', fx.root, ...args, '-o', join(out, 'never.tar')], { env: { TMPDIR: tmp } });
    const failed = await strata(['--run-as-root', 'echo "before the failure"; echo "no luck" >&2; exit 7']);
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toContain('runAsRoot failed (exit 7)');
    expect(failed.stderr).toContain('no luck');
    expect(failed.stderr).toContain('before the failure');
    const full = await strata(['--disk-size', '16', '--run-as-root', 'echo filling; dd if=/dev/zero of=/big bs=1M count=64']);
    expect(full.exitCode).toBe(1);
    expect(full.stderr).toMatch(/diskSize|disk/);
    expect(full.stderr).toContain('filling');
    expect(await readdir(out)).toEqual([]);
    expect(await readdir(tmp)).toEqual([]);
  });
});
