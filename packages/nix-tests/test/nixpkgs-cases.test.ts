import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { hasPeers, makeTempDir, podmanInspect, podmanRun, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HELLO, IMAGE_PEERS, preamble } from './_fixtures.js';
import { type ExpressionFile, expressionFile, nixPath } from './_nix.js';
import { testRun } from './_run.js';

// nixpkgs' own dockerTools cases (nixos/tests/docker-tools.nix), as a Nix user writes them, through the library.
const IMAGES = ['prefixed', 'scriptReferences', 'twoLayers', 'unstableDate', 'arm64', 'localDirectory'];

interface Inspected {
  RepoTags: string[];
  RootFS: { Layers: string[] };
  Created: string;
  Architecture: string;
}

describe.runIf(hasPeers(...IMAGE_PEERS))("nixpkgs' dockerTools test cases through nix/", () => {
  const session = testRun();
  const { mark } = session;
  let dir: TempDir;
  let file: ExpressionFile;
  let out: Record<string, string>;
  const load = async (archive: string) => {
    const image = await session.load(archive);
    return { image, inspect: (await podmanInspect(image)) as unknown as Inspected };
  };

  beforeAll(async () => {
    dir = await makeTempDir('strata-nixlib-cases-');
    await mkdir(join(dir.path, 'hello-dir'));
    await writeFile(join(dir.path, 'hello-dir/hello.txt'), 'hello from a local directory\n');
    file = await expressionFile(`${preamble(mark)}
  image = args: dockerTools.buildLayeredImage ({ tag = "1"; compressor = "none"; } // args);
in {
  prefixed = image { name = "registry.example/\${name}/layered-image"; contents = [ h.hello ]; config = helloCmd; };
  # Store paths that only fakeRootCommands' output names join the image (nixpkgs #29).
  scriptReferences = image { name = "\${name}-script-refs"; fakeRootCommands = "mkdir -p hello && ln -s \${h.hello}/bin/hello hello/run"; config.Cmd = [ "/hello/run" ]; };
  twoLayers = image { name = "\${name}-two-layers"; contents = [ h.hello h.busybox ]; config = helloCmd; maxLayers = 2; };
  unstableDate = image { name = "\${name}-now"; contents = [ h.hello ]; config = helloCmd; created = "now"; };
  arm64 = image { name = "\${name}-arm64"; contents = [ h.hello ]; architecture = "arm64"; };
  localDirectory = image { name = "\${name}-local-dir"; contents = [ h.busybox ${nixPath(join(dir.path, 'hello-dir'))} ]; config.Cmd = [ bb "cat" "/hello.txt" ]; };
}
`);
    out = await file.build(...IMAGES);
  });

  afterAll(async () => {
    await session.cleanup({ paths: Object.values(out ?? {}), file, attrs: IMAGES.map((i) => `${i}.conf`) });
    await dir?.remove();
  });

  it('names the file by the base name and keeps a registry prefix in the repository (#28)', async () => {
    expect(basename(out.prefixed!)).toMatch(/-layered-image\.tar$/);
    const { image } = await load(out.prefixed!);
    expect(image).toBe(`registry.example/${mark}/layered-image:1`);
    expect((await podmanRun(image)).stdout).toContain(HELLO);
  });

  it('takes into the image the store paths only fakeRootCommands links to (#29)', async () => {
    const { image } = await load(out.scriptReferences!);
    expect((await podmanRun(image)).stdout).toContain(HELLO);
  });

  it('keeps to maxLayers = 2: one store layer and the customisation layer (#21, #22)', async () => {
    const { image, inspect } = await load(out.twoLayers!);
    expect(inspect.RootFS.Layers).toHaveLength(2);
    expect((await podmanRun(image)).stdout).toContain(HELLO);
  });

  it('dates the image at build time with created = "now" (#14)', async () => {
    const { inspect } = await load(out.unstableDate!);
    expect(inspect.Created.startsWith('1970-01-01')).toBe(false);
    expect(new Date(inspect.Created).getFullYear()).toBeGreaterThan(2020);
  });

  it('writes the architecture given (#34)', async () => {
    const { inspect } = await load(out.arm64!);
    expect(inspect.Architecture).toBe('arm64');
  });

  it('links a local directory in contents at / (#33)', async () => {
    const { image } = await load(out.localDirectory!);
    expect((await podmanRun(image)).stdout).toBe('hello from a local directory\n');
  });
});
