import { basename } from 'node:path';
import { hasPeers, PODMAN_GLOBAL, PODMAN_RUN, run } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HELLO, IMAGE_PEERS, preamble, streamIntoPodman } from './_fixtures.js';
import { type ExpressionFile, expressionFile, NIX_LIBRARY, tryEval } from './_nix.js';
import { testRun } from './_run.js';

describe.runIf(hasPeers(...IMAGE_PEERS))(
  'buildNixShellImage and streamNixShellImage from nix/ (no nixpkgs)',
  () => {
    const session = testRun();
    const { mark } = session;
    let file: ExpressionFile;
    let out: Record<string, string>;

    beforeAll(async () => {
      file = await expressionFile(`${preamble(mark)}
in rec {
  inherit sh;
  built = dockerTools.buildNixShellImage {
    drv = sh.target; name = "\${name}-run"; tag = "v1"; compressor = "none";
    run = "buildDerivation && bb=$busybox/bin/busybox && $bb cat $out/share/greeting && echo \\"user $($bb id -u):$($bb id -g) in $PWD\\"";
  };
  streamed = dockerTools.streamNixShellImage {
    drv = sh.target; name = "\${name}-command"; uid = 1234; gid = 2345;
    command = "case $- in *i*) echo interactive;; esac; echo \\"user $($busybox/bin/busybox id -u) home $HOME\\"";
  };
  defaults = dockerTools.buildNixShellImage { drv = sh.target; };
}
`);
      out = await file.build('built', 'streamed');
    });

    afterAll(async () => {
      await session.cleanup({ paths: Object.values(out ?? {}), file, attrs: ['built.conf', 'streamed.conf'] });
    });

    it('builds a nix-shell image whose `run` builds the derivation in the container as the build user', async () => {
      expect(basename(out.built!)).toMatch(/-shell-target-env\.tar$/);
      const image = await session.load(out.built!);
      expect(image).toBe(`localhost/${mark}-run:v1`);
      const result = await run('podman', [...PODMAN_GLOBAL, 'run', ...PODMAN_RUN, image], { allowFailure: true });
      expect(result.stderr).toBe('');
      expect(result.stdout.split('\n')).toEqual([HELLO, 'user 1000:1000 in /build', '']);
    });

    it('streams a nix-shell image whose `command` runs interactively as the given user', async () => {
      const image = await streamIntoPodman(out.streamed!);
      session.loaded(image);
      expect(image).toBe(`localhost/${mark}-command:${await file.eval<string>('streamed.imageTag')}`);
      const result = await run('podman', [...PODMAN_GLOBAL, 'run', ...PODMAN_RUN, '--tty', image], { allowFailure: true });
      expect(result.stdout.replaceAll('\r', '').split('\n')).toEqual(['interactive', 'user 1234 home /build', '']);
    });

    it("takes nixpkgs' defaults: name <drv name>-env, file <drv name>-env.tar.gz, the library's bash as shell", async () => {
      expect(await file.eval<string>('defaults.imageName')).toBe('shell-target-env');
      expect(await file.eval<string>('defaults.name')).toBe('shell-target-env.tar.gz');
      const bash = await file.eval<string>('sh.bashStatic.outPath');
      const spec = await file.eval<Record<string, unknown>>('defaults.conf.spec');
      expect(spec).toMatchObject({ shell: `${bash}/bin/bash`, uid: 1000, gid: 1000, homeDirectory: '/build', usrBinEnv: `${bash}/bin/env` });
      expect(spec.drv).toBe(await file.eval<string>('sh.target.drvPath'));
    });

    it('refuses what nixpkgs refuses, at evaluation', async () => {
      const target = `(${preamble(mark)} in sh.target)`;
      const lib = `import ${NIX_LIBRARY} { }`;
      const cases: [string, RegExp][] = [
        [`((${lib}).streamNixShellImage { drv = ${target}; shell = "/bin/sh"; command = "a"; run = "b"; }).drvPath`, /give command or run, not both/],
        [`((${lib}).streamNixShellImage { drv = ${target} // { drvAttrs.__structuredAttrs = true; }; shell = "/bin/sh"; }).drvPath`, /uses __structuredAttrs/],
        [`((${lib}).streamNixShellImage { drv = ${target}; }).drvPath`, /give `shell`.*pkgs\.bash/],
      ];
      for (const [expression, message] of cases) {
        const { exitCode, stderr } = await tryEval(expression);
        expect(exitCode, expression).not.toBe(0);
        expect(stderr, expression).toMatch(message);
      }
    });
  },
);
