import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import { basename } from 'node:path';
import { spawn } from 'node:child_process';
import { hasPeers, podmanInspect, podmanRun } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decompressIntoPodman, HELLO, IMAGE_PEERS, preamble, streamIntoPodman } from './_fixtures.js';
import { type ExpressionFile, expressionFile, NIX_LIBRARY, tryEval } from './_nix.js';
import { testRun } from './_run.js';

async function sha256(stream: NodeJS.ReadableStream): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The sha256 of what a stream script writes to stdout. */
async function streamDigest(script: string): Promise<string> {
  const child = spawn(script, [], { stdio: ['ignore', 'pipe', 'ignore'] });
  const [digest, code] = await Promise.all([sha256(child.stdout), new Promise((r) => child.on('close', r))]);
  if (code !== 0) throw new Error(`${script} exited ${code}`);
  return digest;
}

const IMAGES = ['plain', 'plainStream', 'gz', 'zst', 'helpers', 'noStore', 'withNixDb', 'onTop'];

describe.runIf(hasPeers(...IMAGE_PEERS))(
  'buildLayeredImage and streamLayeredImage from nix/ (no nixpkgs)',
  () => {
    const session = testRun();
    const { mark, load } = session;
    let file: ExpressionFile;
    let out: Record<string, string>;

    beforeAll(async () => {
      file = await expressionFile(`${preamble(mark)}
  plainArgs = { name = "\${name}-plain"; contents = [ h.hello ]; config = helloCmd; };
in rec {
  inherit h sh;
  plain = dockerTools.buildLayeredImage (plainArgs // { compressor = "none"; });
  plainStream = dockerTools.streamLayeredImage plainArgs;
  gz = dockerTools.buildLayeredImage { name = "\${name}-gz"; tag = "gz"; contents = h.hello; config = helloCmd; };
  zst = dockerTools.buildLayeredImage { name = "\${name}-zst"; tag = "zst"; contents = h.hello; config = helloCmd; compressor = "zstd"; };
  helpers = dockerTools.buildLayeredImage {
    name = "\${name}-helpers"; tag = "1"; compressor = "none";
    contents = [ h.hello dockerTools.binSh dockerTools.usrBinEnv dockerTools.caCertificates
      (dockerTools.fakeNss.override { extraPasswdLines = [ "alice:x:1000:1000::/home/alice:/bin/sh" ]; extraGroupLines = [ "alice:x:1000:" ]; }) ];
    extraCommands = "echo made by extraCommands > extra";
    fakeRootCommands = "mkdir -p home/alice && chown 1000:1000 home/alice";
    config.Cmd = [ "/bin/sh" "-c" "\${bb} cat /etc/passwd /etc/group /extra; \${bb} readlink /bin/sh; \${bb} readlink /usr/bin/env; \${bb} head -n 1 /etc/ssl/certs/ca-certificates.crt; \${bb} stat -c %u:%g /home/alice; /usr/bin/env hello" ];
  };
  noStore = dockerTools.buildLayeredImage { name = "\${name}-nostore"; tag = "1"; contents = [ h.hello ]; config = helloCmd; includeStorePaths = false; compressor = "none"; };
  withNixDb = dockerTools.buildLayeredImageWithNixDb {
    name = "\${name}-nixdb"; tag = "1"; contents = [ h.hello ]; compressor = "none";
    config.Cmd = [ bb "sh" "-c" "\${bb} ls /nix/var/nix/db; \${bb} readlink /nix/var/nix/gcroots/docker/\${baseNameOf h.hello}" ];
  };
  onTop = dockerTools.buildLayeredImage {
    name = "\${name}-ontop"; tag = "1"; fromImage = plain; contents = [ h.busybox ]; compressor = "none";
    config.Cmd = [ bb "sh" "-c" "\${bb} echo on top; \${h.hello}/bin/hello" ];
  };
}
`);
      out = await file.build(...IMAGES);
    });

    afterAll(async () => {
      await session.cleanup({ paths: Object.values(out ?? {}), file, attrs: IMAGES.map((i) => `${i}.conf`) });
    });

    it('builds <name>.tar (compressor none) that podman loads as name:imageTag and runs', async () => {
      expect(basename(out.plain!)).toMatch(new RegExp(`^[a-z0-9]{32}-${mark}-plain\\.tar$`));
      const tag = await file.eval<string>('plain.imageTag');
      expect(tag).toMatch(/^[a-z0-9]{32}$/);
      expect(await file.eval<string>('plain.imageName')).toBe(`${mark}-plain`);
      const image = await load(out.plain!);
      expect(image).toBe(`localhost/${mark}-plain:${tag}`);
      const { stdout, exitCode } = await podmanRun(image);
      expect(exitCode).toBe(0);
      expect(stdout).toContain(HELLO);
    });

    it('gives streamLayeredImage as an executable that writes the same image to stdout, for podman load', async () => {
      await access(out.plainStream!, constants.X_OK);
      expect(basename(out.plainStream!)).toMatch(new RegExp(`-stream-${mark}-plain$`));
      // buildLayeredImage's stream is the same derivation as streamLayeredImage with the same arguments.
      expect(await file.eval<string>('plain.stream.outPath')).toBe(out.plainStream);
      expect(await file.eval<string>('plainStream.imageTag')).toBe(await file.eval<string>('plain.imageTag'));
      expect(await streamDigest(out.plainStream!)).toBe(await sha256(createReadStream(out.plain!)));
      const image = await streamIntoPodman(out.plainStream!);
      session.loaded(image);
      const { stdout } = await podmanRun(image);
      expect(stdout).toContain(HELLO);
    });

    it('compresses with gz by default (<name>.tar.gz) and with zstd as <name>.tar.zst', async () => {
      expect(basename(out.gz!)).toMatch(new RegExp(`-${mark}-gz\\.tar\\.gz$`));
      expect(basename(out.zst!)).toMatch(new RegExp(`-${mark}-zst\\.tar\\.zst$`));
      for (const [tool, archive] of [
        ['gzip', out.gz!],
        ['zstd', out.zst!],
      ] as const) {
        const image = await decompressIntoPodman(tool, archive);
        session.loaded(image);
        expect((await podmanRun(image)).stdout).toContain(HELLO);
      }
    });

    it('puts the helpers, extraCommands and fakeRootCommands into the customisation layer', async () => {
      const shell = await file.eval<string>('sh.bashStatic.outPath');
      const { stdout, stderr, exitCode } = await podmanRun(await load(out.helpers!));
      expect(stderr).toBe('');
      expect(exitCode).toBe(0);
      const lines = stdout.split('\n');
      expect(lines.slice(0, 3)).toEqual(['root:x:0:0:root user:/var/empty:/bin/sh', 'alice:x:1000:1000::/home/alice:/bin/sh', 'nobody:x:65534:65534:nobody:/var/empty:/bin/sh']);
      expect(lines.slice(3, 6)).toEqual(['root:x:0:', 'alice:x:1000:', 'nobody:x:65534:']);
      expect(lines[6]).toBe('made by extraCommands');
      expect(lines.slice(7, 9)).toEqual([`${shell}/bin/bash`, `${shell}/bin/env`]);
      expect(lines[9]).toBe('-----BEGIN CERTIFICATE-----');
      expect(lines[10]).toBe('1000:1000');
      expect(lines[11]).toBe(HELLO);
    });

    it('leaves the store out with includeStorePaths = false: one layer, and the program is missing', async () => {
      const image = await load(out.noStore!);
      const inspect = (await podmanInspect(image)) as { RootFS: { Layers: string[] } };
      expect(inspect.RootFS.Layers).toHaveLength(1);
      expect((await podmanRun(image)).exitCode).not.toBe(0);
    });

    it('registers the closure of contents with buildLayeredImageWithNixDb', async () => {
      const hello = await file.eval<string>('h.hello.outPath');
      const { stdout, exitCode } = await podmanRun(await load(out.withNixDb!));
      expect(exitCode).toBe(0);
      expect(stdout.split('\n')).toContain('db.sqlite');
      expect(stdout.trim().split('\n').at(-1)).toBe(hello);
    });

    it('builds on a base image (fromImage): the base layers come first, and both images run', async () => {
      const base = (await podmanInspect(await load(out.plain!))) as { RootFS: { Layers: string[] } };
      const image = await load(out.onTop!);
      const top = (await podmanInspect(image)) as { RootFS: { Layers: string[] } };
      expect(top.RootFS.Layers.slice(0, base.RootFS.Layers.length)).toEqual(base.RootFS.Layers);
      expect(top.RootFS.Layers.length).toBeGreaterThan(base.RootFS.Layers.length);
      const { stdout } = await podmanRun(image);
      expect(stdout).toContain('on top');
      expect(stdout).toContain(HELLO);
    });

    it('refuses what nixpkgs refuses, at evaluation, naming the argument', async () => {
      const lib = `import ${NIX_LIBRARY} { }`;
      const cases: [string, RegExp][] = [
        [`((${lib}).buildLayeredImage { name = "x"; compressor = "lz4"; }).drvPath`, /compressor must be one of: \[gz none zstd\]/],
        [`((${lib}).streamLayeredImage { name = "x"; maxLayers = 1; }).drvPath`, /maxLayers must be greater than 1/],
        [`((${lib}).buildLayeredImage { name = "x"; colour = "red"; }).drvPath`, /unexpected argument 'colour'/],
        [`(${lib}).binSh.drvPath`, /binSh needs .*bash = \.\.\..*pkgs\.bash/],
      ];
      for (const [expression, message] of cases) {
        const { exitCode, stderr } = await tryEval(expression);
        expect(exitCode, expression).not.toBe(0);
        expect(stderr, expression).toMatch(message);
      }
    });
  },
);
