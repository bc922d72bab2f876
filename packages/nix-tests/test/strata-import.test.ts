import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { hasPeers, makeTempDir, NIX_OPTIONS, repoRoot, run } from '@strata/test-utils';
import { describe, expect, it } from 'vitest';
import { NIX_LIBRARY, NIX_STRATA, nixPath, tryEval } from './_nix.js';

/** Evaluates nix/strata.nix for `src` and adds the import to the store, as a build would. */
async function importStrata(src: string): Promise<string> {
  const { stdout } = await run('nix-instantiate', [...NIX_OPTIONS, '--read-write-mode', '--eval', '--json', '-E', `import ${NIX_STRATA} { src = ${nixPath(src)}; }`]);
  return JSON.parse(stdout) as string;
}

describe.runIf(hasPeers('nix-instantiate'))("the library's default strata: this checkout, built, in the store", () => {
  it('holds the CLI and what it runs: the built packages, their package.json files and third-party dependencies', async () => {
    const cli = await importStrata(repoRoot());
    expect(cli).toMatch(/^\/nix\/store\/[a-z0-9]{32}-strata\/packages\/cli$/);
    const { stdout } = await run(process.execPath, [join(cli, 'dist/bin.js'), '--version']);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const root = join(cli, '../..');
    expect((await readdir(root)).sort()).toEqual(['node_modules', 'packages']);
    const packages = await readdir(join(root, 'packages'));
    expect(packages).toContain('dockertools');
    expect(packages).toContain('registry');
    for (const p of packages) expect((await readdir(join(root, 'packages', p))).filter((f) => f !== 'node_modules').sort(), p).toEqual(['dist', 'package.json']);
    // Only the run-time closure: no test helpers, no dev tools.
    expect(packages).not.toContain('test-utils');
    expect(packages).not.toContain('nix-tests');
    const entries = await readdir(join(root, 'node_modules/.pnpm'));
    for (const dev of ['vitest', 'typescript', 'turbo', '@biomejs']) expect(entries.filter((e) => e.startsWith(`${dev}@`)), dev).toEqual([]);
    for (const runtime of ['commander', 'zod', 'tar-stream', 'zstd-napi']) expect(entries.some((e) => e.startsWith(`${runtime}@`)), runtime).toBe(true);
    expect(existsSync(join(root, 'packages/cli/src'))).toBe(false);
  });

  it('keeps the conf, so the default tag, when strata changes; the images that run it rebuild', async () => {
    const image = (strata: string) =>
      `(import ${NIX_LIBRARY} { strata = "${strata}"; }).buildLayeredImage { name = "x"; contents = [ (builtins.toFile "f" "x") ]; }`;
    const { stdout, stderr } = await tryEval(`let a = ${image('/strata/one')}; b = ${image('/strata/two')}; in {
      conf = [ a.conf.drvPath b.conf.drvPath ]; tag = [ a.imageTag b.imageTag ];
      image = [ a.drvPath b.drvPath ]; stream = [ a.stream.drvPath b.stream.drvPath ]; }`);
    expect(stdout, stderr).not.toBe('');
    const { conf, tag, image: images, stream } = JSON.parse(stdout) as Record<'conf' | 'tag' | 'image' | 'stream', [string, string]>;
    expect(conf[0]).toBe(conf[1]);
    expect(tag[0]).toBe(tag[1]);
    expect(images[0]).not.toBe(images[1]);
    expect(stream[0]).not.toBe(stream[1]);
  });

  it('runs builders with the first node on PATH by its absolute path, skipping relative entries', async () => {
    // pnpm runs scripts with ./node_modules/.bin first on PATH.
    const PATH = `./node_modules/.bin:${dirname(process.execPath)}:${process.env.PATH}`;
    const { stdout } = await run('nix-instantiate', [...NIX_OPTIONS, '--eval', '--json', '-E', `((import ${NIX_LIBRARY} { }).mergeImages [ ]).builder`], { env: { PATH } });
    expect(JSON.parse(stdout)).toBe(join(dirname(process.execPath), 'node'));
  });

  it('says to build the checkout when the CLI is not built', async () => {
    const dir = await makeTempDir('strata-nixlib-unbuilt-');
    try {
      await mkdir(join(dir.path, 'packages/cli'), { recursive: true });
      await writeFile(join(dir.path, 'packages/cli/package.json'), JSON.stringify({ name: '@strata/cli', version: '0.0.0' }));
      const { exitCode, stderr } = await tryEval(`import ${NIX_STRATA} { src = ${nixPath(dir.path)}; }`);
      expect(exitCode).not.toBe(0);
      expect(stderr).toContain(`${dir.path}/packages/cli/dist/bin.js does not exist`);
      expect(stderr).toContain('pnpm install && pnpm build');
    } finally {
      await dir.remove();
    }
  });
});
