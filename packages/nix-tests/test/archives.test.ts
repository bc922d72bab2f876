import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  hasPeers,
  makeTempDir,
  PODMAN_GLOBAL,
  podmanRun,
  type RunningRegistry,
  run,
  runStrata,
  startRegistry,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HELLO, IMAGE_PEERS, preamble } from './_fixtures.js';
import { type ExpressionFile, expressionFile } from './_nix.js';
import { testRun } from './_run.js';

describe.runIf(hasPeers(...IMAGE_PEERS, 'docker-registry'))(
  'pullImage, mergeImages and exportImage from nix/ (no nixpkgs)',
  () => {
    const session = testRun();
    const { mark } = session;
    let images: ExpressionFile;
    let out: Record<string, string>;
    const built: string[] = [];
    const files: ExpressionFile[] = [];
    let registry: RunningRegistry | undefined;

    beforeAll(async () => {
      images = await expressionFile(`${preamble(mark)}
in rec {
  hello = dockerTools.buildLayeredImage { name = "\${name}-hello"; tag = "1"; contents = [ h.hello ]; config = helloCmd; compressor = "none"; };
  echo = dockerTools.buildLayeredImage { name = "\${name}-echo"; tag = "2"; contents = [ h.busybox ]; config.Cmd = [ bb "echo" "echo image" ]; compressor = "none"; };
  merged = dockerTools.mergeImages [ hello echo ];
  exported = dockerTools.exportImage { fromImage = hello; };
  exportedNamed = dockerTools.exportImage { fromImage = merged; fromImageName = "\${name}-echo"; fromImageTag = "2"; name = "\${name}-echo-rootfs.tar"; };
  tooSmall = dockerTools.exportImage { fromImage = hello; name = "\${name}-too-small.tar"; diskSize = 1; };
}
`);
      out = await images.build('hello', 'echo', 'merged', 'exported', 'exportedNamed');
      built.push(...Object.values(out));
      built.push(...(await images.outPaths('hello.conf', 'echo.conf')));
    });

    afterAll(async () => {
      await registry?.stop();
      await session.cleanup({ paths: built, file: images, files });
    });

    it('merges images into one archive (merge-docker-images) that loads both, each runs', async () => {
      expect(basename(out.merged!)).toMatch(/^[a-z0-9]{32}-merge-docker-images$/);
      const { stdout } = await run('podman', [...PODMAN_GLOBAL, 'load', '-i', out.merged!]);
      session.loaded(`${mark}-hello:1`, `${mark}-echo:2`);
      expect(stdout).toContain(`localhost/${mark}-hello:1`);
      expect(stdout).toContain(`localhost/${mark}-echo:2`);
      expect((await podmanRun(`${mark}-hello:1`)).stdout).toContain(HELLO);
      expect((await podmanRun(`${mark}-echo:2`)).stdout).toBe('echo image\n');
    });

    it("exports an image's filesystem as one tar, named as the image by default, that podman imports and runs", async () => {
      // nixpkgs' default name is the image's: <name>.tar here, though it is a plain tar of files.
      expect(basename(out.exported!)).toMatch(new RegExp(`^[a-z0-9]{32}-${mark}-hello\\.tar$`));
      expect(out.exported).not.toBe(out.hello);
      const { stdout: list } = await run('tar', ['-tf', out.exported!]);
      const entries = list.split('\n');
      expect(entries[0]).toBe('./');
      expect(entries).toContain('./bin/hello');
      expect(entries.some((e) => e.startsWith('./nix/store/'))).toBe(true);
      const image = `${mark}-exported:1`;
      await run('podman', [...PODMAN_GLOBAL, 'import', '-q', out.exported!, image]);
      session.loaded(image);
      expect((await podmanRun(image, ['/bin/hello'])).stdout).toContain(HELLO);
    });

    it('exports the image fromImageName/fromImageTag pick from a multi-image archive', async () => {
      expect(basename(out.exportedNamed!)).toMatch(new RegExp(`-${mark}-echo-rootfs\\.tar$`));
      const { stdout } = await run('tar', ['-tf', out.exportedNamed!]);
      expect(stdout.split('\n')).not.toContain('./bin/hello');
      expect(stdout).toMatch(/busybox-static-1\.35\/bin\/busybox\n/);
    });

    it('fails an export that would unpack more than diskSize MiB', async () => {
      const { exitCode, stderr } = await images.tryBuild('tooSmall');
      expect(exitCode).not.toBe(0);
      expect(stderr).toMatch(/LIMIT_EXCEEDED.*1048576 bytes/);
    });

    it('pulls an image pinned by digest from a registry: a wrong hash fails, the right one loads and runs', async () => {
      registry = await startRegistry();
      const pushed = await runStrata(['push', out.hello!, `${registry.host}/${mark}/hello:src`]);
      expect(pushed.exitCode, pushed.stderr).toBe(0);
      const digest = /@(sha256:[a-f0-9]{64})/.exec(pushed.stdout)?.[1];
      expect(digest).toBeDefined();
      const pull = (hash: string) => `${preamble(mark)}
in dockerTools.pullImage {
  imageName = "${registry!.host}/${mark}/hello"; imageDigest = "${digest}";
  ${hash}
  finalImageName = "\${name}-pulled"; finalImageTag = "v1";
}
`;
      // Unique names make unique output paths: a path left by an earlier run can never answer for a pull.
      const wrong = await expressionFile(pull(`sha256 = "${'0'.repeat(64)}";`));
      files.push(wrong);
      const failed = await wrong.tryBuild('');
      expect(failed.exitCode).not.toBe(0);
      expect(failed.stderr).toContain('hash mismatch');
      const got = /got:\s*(sha256[-:]\S+)/.exec(failed.stderr)?.[1];
      expect(got).toBeDefined();

      const right = await expressionFile(pull(`hash = "${got}";`));
      files.push(right);
      const { '': archive } = await right.build('');
      built.push(archive!);
      expect(basename(archive!)).toMatch(new RegExp(`-docker-image-${mark}-pulled-v1\\.tar$`));
      expect(await right.eval<string>('imageName')).toBe(`${mark}-pulled`);
      expect(await right.eval<string>('imageTag')).toBe('v1');

      // The same pull by the CLI gives the same bytes: the hash pins what strata writes.
      const dir = await makeTempDir();
      try {
        const direct = join(dir.path, 'direct.tar');
        const cli = await runStrata(['pull', `${registry.host}/${mark}/hello@${digest}`, '-o', direct, '--final-name', `${mark}-pulled`, '--final-tag', 'v1']);
        expect(cli.exitCode, cli.stderr).toBe(0);
        const sha = async (f: string) => createHash('sha256').update(await readFile(f)).digest('hex');
        expect(await sha(archive!)).toBe(await sha(direct));
      } finally {
        await dir.remove();
      }

      const image = await session.load(archive!);
      expect(image).toBe(`localhost/${mark}-pulled:v1`);
      expect((await podmanRun(image)).stdout).toContain(HELLO);
    });
  },
);
