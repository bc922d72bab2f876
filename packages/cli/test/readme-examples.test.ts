import { symlink } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildHelloClosure,
  type HelloClosure,
  hasPeers,
  makeTempDir,
  type Peer,
  repoRoot,
  run,
  type RunningRegistry,
  startRegistry,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Every public package's README has a "## Try it" section whose first sh block runs from the
// repository root after `pnpm build`, with ./result a Nix build result. These tests run each block
// as written, in an empty directory holding such a ./result, with ./packages/ pointing into this
// repository (and a registry of their own where the example says 127.0.0.1:5000).

const root = repoRoot();
const packages = readdirSync(join(root, 'packages')).filter((p) => JSON.parse(readFileSync(join(root, 'packages', p, 'package.json'), 'utf8')).private !== true);

/** The first sh block of the README's "## Try it" section, or undefined. */
function tryIt(pkg: string): string | undefined {
  const readme = readFileSync(join(root, 'packages', pkg, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith('Try it\n'));
  return section === undefined ? undefined : /```sh\n([\s\S]*?)```/.exec(section)?.[1];
}

/** What an example needs besides Node (and the build): its README says so too. */
const NEEDS: Readonly<Record<string, readonly Peer[]>> = {
  cache: [],
  customisation: ['nix-build', 'fakeroot'],
  'nix-shell': ['nix-build', 'nix-instantiate'],
  registry: ['docker-registry'],
  vm: ['qemu-system-x86_64', 'busybox', 'getfattr', 'setfattr'],
};

describe('the README of every public package', () => {
  it.each(packages)('%s has a runnable "Try it" example', (pkg) => {
    expect(tryIt(pkg), `packages/${pkg}/README.md: no sh block in a "## Try it" section`).toBeDefined();
  });
});

describe.each(packages)('packages/%s/README.md: Try it', (pkg) => {
  const needs = NEEDS[pkg] ?? ['nix-build'];
  describe.runIf(needs.length === 0 || hasPeers(...needs))('', () => {
    let hello: HelloClosure;
    let registry: RunningRegistry | undefined;
    beforeAll(async () => {
      if (needs.includes('nix-build')) hello = await buildHelloClosure();
      if (needs.includes('docker-registry')) registry = await startRegistry();
    });
    afterAll(async () => {
      await registry?.stop();
    });

    it('runs as written', async () => {
      const dir = await makeTempDir(`strata-readme-${pkg}-`);
      try {
        if (hello) await symlink(hello.hello, join(dir.path, 'result'));
        let script = tryIt(pkg)!.replaceAll('./packages/', `${root}/packages/`);
        if (registry) script = script.replaceAll('127.0.0.1:5000', registry.host);
        // -e as a reader would notice a failing step; no pipefail: `| head` may cut a listing short.
        const result = await run('bash', ['-e', '-c', script], { cwd: dir.path, allowFailure: true, timeoutMs: 900_000 });
        expect(result.exitCode, `${result.stderr}${result.stdout}`).toBe(0);
        expect(result.stdout.trim()).not.toBe('');
      } finally {
        await dir.remove();
      }
    });
  });
});
