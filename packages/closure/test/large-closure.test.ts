import { spawnSync } from 'node:child_process';
import { hasPeers, instantiateNix, makeTempDir, run, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectClosure } from '../src/index.js';

// 9000 text files with 190-character names: their paths alone are 2 MB, past ARG_MAX (2 MiB here).
const MANY_INPUTS = `let
  pad = builtins.concatStringsSep "" (builtins.genList (i: "x") 180);
  srcs = builtins.genList (i: builtins.toFile "\${pad}-\${toString i}" (toString i)) 9000;
in derivation { name = "many-inputs"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; inherit srcs; }`;

describe.runIf(hasPeers('nix-instantiate', 'nix', 'nix-store'))('a closure whose paths do not fit one command line', () => {
  let dir: TempDir;
  let drv: string;
  let requisites: string[];

  beforeAll(async () => {
    dir = await makeTempDir();
    // A chroot store keeps the 9001 paths out of the shared /nix/store.
    [drv] = (await instantiateNix(MANY_INPUTS, { storeRoot: dir.path })) as [string];
    requisites = (await run('nix-store', ['--store', `local?root=${dir.path}`, '-qR', drv])).stdout.split('\n').filter(Boolean).sort();
  });
  afterAll(() => dir.remove());

  it('is too long for one nix-store --dump-db here', () => {
    expect(requisites).toHaveLength(9001);
    const once = spawnSync('nix-store', ['--store', `local?root=${dir.path}`, '--dump-db', ...requisites], { stdio: 'ignore' });
    expect((once.error as NodeJS.ErrnoException | undefined)?.code).toBe('E2BIG');
  });

  it.each(['nix-store', 'nix', 'scan'] as const)('source %s finds all of it', async (source) => {
    const closure = await collectClosure([drv], { source, storeRoot: dir.path });
    expect(closure.map((r) => r.path)).toEqual(requisites);
    expect(closure.find((r) => r.path === drv)!.references).toHaveLength(9000);
  });
});
