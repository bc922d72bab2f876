import { buildLayeredImage, streamLayeredImage } from '@strata/dockertools';
import { readImage } from '@strata/image';
import { buildHelloClosure, type HelloClosure, hasPeers, makeTempDir, nixPathInfo, run, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { createSbom } from '../src/sbom.js';
import { readImageContents } from '../src/image-contents.js';
import { cycloneDxProblems, spdxProblems } from './_schemas.js';

describe.runIf(hasPeers('nix-build'))('the SBOM of a real Nix closure', () => {
  let hello: HelloClosure;
  let dir: TempDir;
  const spec = () => ({ name: 'strata-sbom-hello', tag: '1', contents: [hello.hello], config: { Cmd: [`${hello.hello}/bin/hello`] }, created: '2024-02-03T04:05:06Z' });
  beforeAll(async () => {
    hello = await buildHelloClosure({ message: 'described by an sbom' });
    dir = await makeTempDir('strata-sbom-nix-');
  });
  afterAll(async () => {
    await dir.remove();
  });

  it("lists exactly Nix's closure, with Nix's narHash and references, read back from the image's layers", async () => {
    const image = await streamLayeredImage(spec());
    try {
      const contents = await readImageContents(image);
      const nix = await nixPathInfo([hello.hello]);
      expect(contents.storePaths.map((p) => ({ path: p.path, narHash: p.narHash, narSize: p.narSize, references: [...p.references] }))).toEqual(
        nix.map((p) => ({ ...p, references: [...p.references] })),
      );
      expect(contents.created).toBe('2024-02-03T04:05:06Z');
    } finally {
      await image.dispose();
    }
  });

  it('names each package as builtins.parseDrvName does, and validates against both official schemas', async () => {
    const image = await streamLayeredImage(spec());
    try {
      const spdx = await createSbom(image, 'spdx-json');
      const document = JSON.parse(spdx.bytes.toString('utf8'));
      expect(spdxProblems(document)).toBe('');
      for (const path of [hello.hello, hello.greeting, hello.busybox]) {
        const storeName = path.slice('/nix/store/'.length + 33);
        const { stdout } = await run('nix-instantiate', ['--eval', '--json', '-E', `builtins.parseDrvName ${JSON.stringify(storeName)}`]);
        const nix = JSON.parse(stdout) as { name: string; version: string };
        const pkg = document.packages.find((p: { packageFileName?: string }) => p.packageFileName === path);
        expect({ name: pkg.name, version: pkg.versionInfo ?? '' }).toEqual(nix);
      }
      const cdx = await createSbom(image, 'cyclonedx-json');
      expect(cycloneDxProblems(JSON.parse(cdx.bytes.toString('utf8')))).toBe('');
      expect(cdx.contents.imageId).toBe(spdx.contents.imageId);
    } finally {
      await image.dispose();
    }
  });

  it('gives the same bytes for the spec and for the archive it builds', async () => {
    const file = join(dir.path, 'hello.tar');
    const built = await buildLayeredImage({ ...spec(), output: file, compressor: 'none' });
    const fromSpec = await streamLayeredImage(spec());
    const fromArchive = await readImage(file);
    try {
      const a = await createSbom(fromSpec, 'spdx-json');
      const b = await createSbom(fromArchive, 'spdx-json');
      expect(b.bytes.equals(a.bytes)).toBe(true);
      expect(a.contents.imageId).toBe(built.imageId);
    } finally {
      await fromSpec.dispose();
    }
  });
});
