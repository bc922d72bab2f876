import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildHelloClosure, buildNix, exportReferencesGraph, hasPeers, helloExpression, instantiateNix, makeTempDir, run, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClosureError, type ClosureSource, collectClosure, type StorePath } from '../src/index.js';

const comparable = (records: readonly StorePath[]) =>
  records.map((r) => ({ path: r.path, narSize: r.narSize, narHash: r.narHash, references: [...r.references] }));

interface PathInfo {
  path: string;
  narHash: string;
  narSize: number;
  references: string[];
}

/** What Nix itself records for the closure of `drvs` as store objects (`nix path-info --derivation`). */
async function nixDerivationClosure(drvs: readonly string[]): Promise<PathInfo[]> {
  const { stdout } = await run('nix', ['path-info', '--json', '--recursive', '--derivation', '--extra-experimental-features', 'nix-command', ...drvs]);
  const parsed = JSON.parse(stdout) as PathInfo[] | Record<string, Omit<PathInfo, 'path'>>;
  const list = Array.isArray(parsed) ? parsed : Object.entries(parsed).map(([path, v]) => ({ ...v, path }));
  return list
    .map((e) => ({ path: e.path, narHash: e.narHash, narSize: e.narSize, references: [...e.references].sort() }))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
}

// A derivation whose inputs are derivations (hello and busybox, already built), a source file, a
// builtins.toFile text and, through drvPath, a .drv as an input source.
const DRV_ROOT = `let h = ${helloExpression()}; in derivation {
  name = "drv-root"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "echo $hello > $out" ];
  inherit (h) hello; note = builtins.toFile "note.txt" "a note"; drvRef = h.busybox.drvPath;
}`;

describe.runIf(hasPeers('nix-instantiate', 'nix-build', 'nix', 'nix-store'))('a .drv root', () => {
  let drv: string;
  let expected: PathInfo[];
  let dir: TempDir;

  beforeAll(async () => {
    dir = await makeTempDir();
    // Built, so the derivation's and its inputs' outputs exist: they still must not join the closure.
    await buildNix(DRV_ROOT);
    [drv] = (await instantiateNix(DRV_ROOT)) as [string];
    expected = await nixDerivationClosure([drv]);
  });
  afterAll(() => dir.remove());

  it('has the closure nix-store -qR prints: the .drv, its input .drv files and sources, no outputs', async () => {
    const requisites = (await run('nix-store', ['-qR', drv])).stdout.split('\n').filter(Boolean).sort();
    expect(expected.map((e) => e.path)).toEqual(requisites);
    expect(requisites.every((p) => p.endsWith('.drv') || p.endsWith('-note.txt'))).toBe(true);
    expect(requisites.some((p) => p.endsWith('-hello-app-1.0.drv'))).toBe(true);
  });

  it.each(['nix', 'nix-store', 'scan'] as ClosureSource[])('source %s gives that closure', async (source) => {
    expect(comparable(await collectClosure([drv], { source }))).toEqual(expected);
  });

  it('a graph file and a registration file give it too', async () => {
    // exportReferencesGraph adds the outputs of the derivations to the file; they are not references.
    const graphFile = await exportReferencesGraph([drv]);
    expect((await collectClosure([], { graphFile })).length).toBeGreaterThan(expected.length);
    expect(comparable(await collectClosure([drv], { graphFile }))).toEqual(expected);
    const registrationFile = join(dir.path, 'registration');
    await writeFile(registrationFile, (await run('nix-store', ['--dump-db', ...expected.map((e) => e.path)])).stdout);
    expect(comparable(await collectClosure([drv], { registrationFile }))).toEqual(expected);
  });

  it('mixes with output roots in one query', async () => {
    const hello = await buildHelloClosure();
    for (const source of ['nix', 'nix-store', 'scan'] as const) {
      const paths = (await collectClosure([drv, hello.hello], { source })).map((r) => r.path);
      expect(paths, source).toEqual([...expected.map((e) => e.path), hello.busybox, hello.greeting, hello.hello].sort());
    }
  });

  it('scan names a .drv that is not a derivation', async () => {
    const storeRoot = join(dir.path, 'store');
    const fake = '/nix/store/00000000000000000000000000000000-fake.drv';
    await run('mkdir', ['-p', join(storeRoot, 'nix/store')]);
    await writeFile(join(storeRoot, fake), 'not an ATerm');
    const error = await collectClosure([fake], { source: 'scan', storeRoot }).catch((e: unknown) => e as ClosureError);
    expect(error).toBeInstanceOf(ClosureError);
    expect((error as ClosureError).message).toContain(`${fake}: byte 0: not a derivation`);
  });
});
