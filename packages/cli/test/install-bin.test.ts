import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  hasPeers,
  helloExpression,
  makeTempDir,
  NIX_OPTIONS,
  podmanLoad,
  podmanRemove,
  podmanRun,
  repoRoot,
  run,
  runNixBuild,
  type TempDir,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const script = join(repoRoot(), 'scripts/install-bin.sh');

/** The README's Quick start section. */
async function quickStart(): Promise<string> {
  const readme = await readFile(join(repoRoot(), 'README.md'), 'utf8');
  const start = readme.indexOf('## Quick start');
  return readme.slice(start, readme.indexOf('\n## ', start + 1));
}

// A fresh HOME stands for a new user; as root the default prefix is /usr/local, which a test must
// not touch, so root gets the prefix a user would have by default.
const prefixArgs = (home: string) => (process.getuid?.() === 0 ? ['--prefix', join(home, '.local')] : []);

describe.runIf(hasPeers('nix-build', 'podman'))('scripts/install-bin.sh: strata on PATH, from any directory', () => {
  let home: TempDir;
  let work: TempDir;
  let nixDir: TempDir;
  const images: string[] = [];
  beforeAll(async () => {
    home = await makeTempDir('strata-install-home-');
    work = await makeTempDir('strata-install-work-');
    nixDir = await makeTempDir('strata-install-nix-');
  });
  afterAll(async () => {
    for (const image of images) await podmanRemove(image);
    await Promise.all([home.remove(), work.remove(), nixDir.remove()]);
  });
  const bin = () => join(home.path, '.local/bin');
  const env = () => ({ HOME: home.path, PREFIX: undefined });

  it('installs the wrapper, says where and that its directory is not on PATH, and is idempotent', async () => {
    const quick = await quickStart();
    expect(quick).toContain('scripts/install-bin.sh');
    const first = await run('bash', [script, ...prefixArgs(home.path)], { env: env(), cwd: work.path });
    expect(first.stderr).toBe('');
    const target = join(bin(), 'strata');
    expect(first.stdout).toContain(`installed ${target}`);
    expect(first.stdout).toContain(`${bin()} is not on PATH`);
    expect((await stat(target)).mode & 0o777).toBe(0o755);
    const wrapper = await readFile(target, 'utf8');
    const again = await run('bash', [script, ...prefixArgs(home.path)], { env: { ...env(), PATH: `${bin()}:${process.env.PATH}` } });
    expect(again.stdout).toContain(`already installed ${target}`);
    expect(again.stdout).not.toContain('not on PATH');
    expect(await readFile(target, 'utf8')).toBe(wrapper);
  });

  it("builds an image from ./result with the README's command, relative to where it runs", async () => {
    const expression = join(nixDir.path, 'default.nix');
    await writeFile(expression, helloExpression());
    // A real Nix build's result link in the empty directory, as `nix-build '<nixpkgs>' -A hello` makes it.
    await runNixBuild([...NIX_OPTIONS, expression, '-A', 'hello'], { cwd: work.path });
    const command = (await quickStart()).split('\n').find((line) => line.startsWith('strata build-layered'));
    expect(command).toBeDefined();
    const name = `strata-install-test-${randomBytes(4).toString('hex')}`;
    images.push(`${name}:latest`);
    const built = await run('bash', ['-c', command!.replace('--name hello', `--name ${name}`)], {
      cwd: work.path,
      env: { ...env(), PATH: `${bin()}:${process.env.PATH}` },
      allowFailure: true,
    });
    expect(built.stderr).toBe('');
    expect(built.exitCode).toBe(0);
    expect(existsSync(join(work.path, 'hello.tar'))).toBe(true);
    expect(existsSync(join(repoRoot(), 'hello.tar'))).toBe(false);
    expect(await podmanLoad(join(work.path, 'hello.tar'))).toBe(`localhost/${name}:latest`);
    const ran = await podmanRun(`${name}:latest`);
    expect(ran.stdout).toMatch(/^Hello, world!\nfrom \/nix\/store\/[a-z0-9]{32}-hello-app-1\.0\n$/);
  });

  it('refuses to replace a strata it did not write, and uninstalls only its own', async () => {
    const other = await makeTempDir('strata-install-other-');
    try {
      const foreign = join(other.path, 'bin/strata');
      await run('mkdir', ['-p', join(other.path, 'bin')]);
      await writeFile(foreign, '#!/bin/sh\necho another strata\n');
      const refused = await run('bash', [script, '--prefix', other.path], { env: env(), allowFailure: true });
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toContain(`${foreign} exists and was not written by install-bin.sh`);
      const kept = await run('bash', [script, '--uninstall', '--prefix', other.path], { env: env(), allowFailure: true });
      expect(kept.exitCode).toBe(1);
      expect(await readFile(foreign, 'utf8')).toBe('#!/bin/sh\necho another strata\n');
    } finally {
      await other.remove();
    }
    const removed = await run('bash', [script, '--uninstall', ...prefixArgs(home.path)], { env: env() });
    expect(removed.stdout).toBe(`strata: removed ${join(bin(), 'strata')}\n`);
    expect(existsSync(join(bin(), 'strata'))).toBe(false);
  });
});
