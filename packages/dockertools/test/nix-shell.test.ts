import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { dumpNarInfo } from '@strata/closure';
import { writeDockerArchive } from '@strata/image';
import { prepareNixShellImage } from '@strata/nix-shell';
import { buildNix, hasPeers, instantiateNix, makeTempDir, nixPathInfo, nixShellExpression, type TempDir, unpackImage } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerToolsError, type NixShellImageOptions, streamNixShellImage } from '../src/index.js';

describe.runIf(hasPeers('nix-build', 'nix-instantiate', 'fakeroot', 'bash-static', 'skopeo', 'umoci'))('streamNixShellImage', () => {
  const expression = nixShellExpression({ nonce: randomUUID() });
  let dir: TempDir;
  let bashStatic: string;
  let drv: string;

  async function writeArchive(options: NixShellImageOptions, file: string): Promise<void> {
    const image = await streamNixShellImage(options);
    try {
      await pipeline(writeDockerArchive(image), createWriteStream(file));
    } finally {
      await image.dispose();
    }
  }

  beforeAll(async () => {
    dir = await makeTempDir('strata-dockertools-nix-shell-');
    [bashStatic] = (await buildNix(expression, { attr: 'bashStatic' })) as [string];
    await buildNix(expression, { attr: 'stdenv' });
    await buildNix(expression, { attr: 'greeting' });
    [drv] = (await instantiateNix(`(${expression}).target`)) as [string];
  });
  afterAll(() => dir?.remove());

  it('holds exactly the closure of the inputs and the generated store objects, with their NAR hashes, as nixpkgs lays it out', async () => {
    const options = { drv, shell: `${bashStatic}/bin/bash`, run: 'buildDerivation' };
    const file = join(dir.path, 'image.tar');
    await writeArchive(options, file);
    const unpacked = await unpackImage(`docker-archive:${file}`);
    try {
      const prepared = await prepareNixShellImage(drv, options);
      const closure = (await nixPathInfo(prepared.closureRoots)).map((p) => p.path);
      const inStore = unpacked.files.filter((f) => /^\/nix\/store\/[^/]+$/.test(f.path)).map((f) => f.path);
      expect(inStore.sort()).toEqual([...closure, ...prepared.generated.map((g) => g.path)].sort());
      for (const g of prepared.generated) expect((await dumpNarInfo(join(unpacked.rootfs, g.path))).narHash, g.path).toBe(g.narHash);

      const at = (path: string) => unpacked.files.find((f) => f.path === path);
      // The store, Nix's state and /build belong to the build user; store paths stay root's, read-only.
      for (const path of ['/nix/store', '/nix/var/nix', '/etc/nix', '/build']) expect(at(path), path).toMatchObject({ type: 'directory', uid: 1000, gid: 1000 });
      expect(at(prepared.rcfile)).toMatchObject({ uid: 0, gid: 0, mode: 0o444 });
      expect(at(prepared.buildDerivation)).toMatchObject({ uid: 0, gid: 0, mode: 0o555 });
      expect(at('/bin/sh')?.linkTarget).toBe(`${bashStatic}/bin/bash`);
      expect(at('/usr/bin/env')?.linkTarget).toBe(`${bashStatic}/bin/env`);
    } finally {
      await unpacked.remove();
    }
  });

  it('leaves no working files behind, once disposed of or when cancelled', async () => {
    const tmp = join(dir.path, 'tmp');
    await mkdir(tmp);
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = tmp; // where the generated objects and the customisation layer are written
    try {
      const image = await streamNixShellImage({ drv, shell: `${bashStatic}/bin/bash` });
      expect((await readdir(tmp)).length).toBeGreaterThan(0);
      await image.dispose();
      expect(await readdir(tmp)).toEqual([]);
      await expect(streamNixShellImage({ drv, shell: `${bashStatic}/bin/bash`, signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
      expect(await readdir(tmp)).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  });

  it('says when there is no env beside the shell for /usr/bin/env, and checks the one it is given', async () => {
    const [hostBash] = (await buildNix(expression, { attr: 'bash' })) as [string];
    const notices: string[] = [];
    const image = await streamNixShellImage({ drv, shell: `${hostBash}/bin/bash`, onNotice: (m) => notices.push(m) });
    await image.dispose();
    expect(notices).toEqual([expect.stringMatching(/^no \/usr\/bin\/env: .*give usrBinEnv/)]);
    const wrong = streamNixShellImage({ drv, shell: `${hostBash}/bin/bash`, usrBinEnv: '/usr/bin/env' });
    await expect(wrong).rejects.toThrow(DockerToolsError);
    await expect(wrong).rejects.toThrow(/^usrBinEnv: \/usr\/bin\/env is not a file in the store/);
  });
});
