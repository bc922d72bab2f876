import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { hasPeers, podmanInspect, podmanRun } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decompressIntoPodman, HELLO, IMAGE_PEERS, preamble } from './_fixtures.js';
import { type ExpressionFile, expressionFile, NIX_LIBRARY, tryEval } from './_nix.js';
import { testRun } from './_run.js';

const IMAGES = ['plain', 'gz', 'layer3', 'withDb', 'deprecatedContents', 'runAsRoot'];

describe.runIf(hasPeers(...IMAGE_PEERS, 'qemu-system-x86_64', 'getfattr', 'setfattr', 'cpio'))('buildImage and buildImageWithNixDb from nix/ (no nixpkgs)', () => {
  const session = testRun();
  const { mark, load } = session;
  let file: ExpressionFile;
  let out: Record<string, string>;

  beforeAll(async () => {
    file = await expressionFile(
      `${preamble(mark)}
  image = args: dockerTools.buildImage ({ compressor = "none"; } // args);
  layer = n: base: env: image ({
    name = "\${name}-layer\${n}"; tag = n; extraCommands = "mkdir -p tmp && echo layer\${n} > tmp/layer\${n}";
    config.Env = env; config.Cmd = [ bb "sh" "-c" "\${bb} cat /tmp/layer1 /tmp/layer2 /tmp/layer3; echo $FROM_PARENT $FROM_CHILD $LAST_LAYER" ];
  } // (if base == null then { copyToRoot = [ h.busybox ]; } else { fromImage = base; }));
in rec {
  plain = image { name = "\${name}-plain"; copyToRoot = [ h.hello ]; config.Cmd = [ "/bin/hello" ]; };
  gz = dockerTools.buildImage { name = "\${name}-gz"; tag = "gz"; copyToRoot = h.hello; config.Cmd = [ "/bin/hello" ]; };
  # nixpkgs' layersOrder and environmentVariables cases: three images, each on the one before.
  layer1 = layer "1" null [ "FROM_PARENT=true" "LAST_LAYER=parent" ];
  layer2 = layer "2" layer1 [ ];
  layer3 = layer "3" layer2 [ "FROM_CHILD=true" "LAST_LAYER=child" ];
  withDb = dockerTools.buildImageWithNixDb { name = "\${name}-db"; tag = "1"; copyToRoot = [ h.hello ]; compressor = "none"; config.Cmd = [ bb "ls" "/nix/var/nix/db" ]; };
  deprecatedContents = image { name = "\${name}-contents"; tag = "1"; contents = [ h.hello ]; config.Cmd = [ "/bin/hello" ]; };
  runAsRoot = image {
    name = "\${name}-root"; tag = "1"; copyToRoot = [ h.busybox ];
    runAsRoot = ''
      #!\${bb} sh
      \${bb} mkdir -p /data && \${bb} chown 1000:1000 /data && echo "(runAsRoot) done" > /runAsRoot
    '';
    extraCommands = "echo '(extraCommands) done' > extraCommands";
    config.Cmd = [ bb "sh" "-c" "\${bb} stat -c %u /data; \${bb} cat /runAsRoot /extraCommands" ];
  };
}
`,
      // strata's VM carries owners in user xattrs, which Nix's syscall filter refuses in builds.
      ['--option', 'filter-syscalls', 'false'],
    );
    out = await file.build(...IMAGES);
  });

  afterAll(async () => {
    const attrs = ['layer1', 'layer2', ...['layer1', 'layer2', ...IMAGES].map((i) => `${i}.closureRoots`)];
    await session.cleanup({ paths: Object.values(out ?? {}), file, attrs });
  });

  it("builds docker-image-<name>.tar, tagged by default with its own hash part, dated as nixpkgs' (#5, #6)", async () => {
    expect(basename(out.plain!)).toMatch(new RegExp(`^[a-z0-9]{32}-docker-image-${mark}-plain\\.tar$`));
    const tag = await file.eval<string>('plain.imageTag');
    expect(tag).toBe(basename(out.plain!).slice(0, 32));
    const image = await load(out.plain!);
    expect(image).toBe(`localhost/${mark}-plain:${tag}`);
    const inspect = (await podmanInspect(image)) as { Created: string };
    expect(inspect.Created).toMatch(/^1970-01-01T00:00:01(\.0+)?Z$/);
    expect((await podmanRun(image)).stdout).toContain(HELLO);
  });

  it('compresses with gz by default (docker-image-<name>.tar.gz)', async () => {
    expect(basename(out.gz!)).toMatch(new RegExp(`-docker-image-${mark}-gz\\.tar\\.gz$`));
    const image = await decompressIntoPodman('gzip', out.gz!);
    session.loaded(image);
    expect((await podmanRun(image)).stdout).toContain(HELLO);
  });

  it("stacks images on fromImage in order, with the base's Env before its own (#17, #20)", async () => {
    const { stdout } = await podmanRun(await load(out.layer3!));
    expect(stdout).toBe('layer1\nlayer2\nlayer3\ntrue true child\n');
  });

  it('registers copyToRoot in a Nix database with buildImageWithNixDb (#8)', async () => {
    const { stdout } = await podmanRun(await load(out.withDb!));
    expect(stdout.split('\n')).toContain('db.sqlite');
  });

  it('takes the deprecated contents as copyToRoot, and refuses both', async () => {
    expect((await podmanRun(await load(out.deprecatedContents!))).stdout).toContain(HELLO);
    const { exitCode, stderr } = await tryEval(`((import ${NIX_LIBRARY} { }).buildImage { name = "x"; contents = [ ]; copyToRoot = [ ]; }).drvPath`);
    expect(exitCode).not.toBe(0);
    expect(stderr).toContain('give copyToRoot or contents (its deprecated name), not both');
  });

  it('runs runAsRoot as root in a VM in the Nix build: owners it sets stay, parentheses survive (#13)', async () => {
    // Nix refuses every build while the builders' HOME exists: a build must never create it.
    expect(existsSync('/homeless-shelter')).toBe(false);
    const { stdout } = await podmanRun(await load(out.runAsRoot!));
    expect(stdout).toBe('1000\n(runAsRoot) done\n(extraCommands) done\n');
  });
});
