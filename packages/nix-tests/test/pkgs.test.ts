import { readFile } from 'node:fs/promises';
import { hasPeers, podmanRun } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HELLO, IMAGE_PEERS, preamble, streamIntoPodman } from './_fixtures.js';
import { type ExpressionFile, expressionFile, NIX_LIBRARY } from './_nix.js';
import { testRun } from './_run.js';

// These machines have no nixpkgs. To run the library's nixpkgs branch for real, `pkgs` here is an
// attribute set with nixpkgs' names whose packages are store paths made of the host's programs
// (links to /usr/bin, the static bash and busybox): every derivation the library makes from them is
// really built, and every image really runs.
const STAND_IN_PKGS = `
  sys = builtins.currentSystem;
  links = name: programs: derivation {
    inherit name; system = sys; builder = "/bin/sh"; PATH = "/usr/bin:/bin";
    args = [ "-c" "mkdir -p $out/bin && for p in \${programs}; do ln -s \\"$(command -v $p)\\" $out/bin/; done" ];
  };
  hostTools = derivation {
    name = "host-tools"; system = sys; builder = "/bin/sh";
    args = [ "-c" "/bin/mkdir -p $out/bin && for p in /usr/bin/*; do /bin/ln -s \\"$p\\" $out/bin/; done" ];
  };
  # A trailing builtin: Nix 2.8 sometimes kills a builder whose shell exec'd its last command
  # (it sees the log pipe's end before the exit), and stdenv's runCommand never ends that way.
  runCommand = name: env: script: derivation (env // {
    inherit name; system = sys; builder = "\${sh.bashStatic}/bin/bash"; PATH = "\${hostTools}/bin";
    args = [ "-e" "-c" "\${script}\ntrue" ];
  });
  pkgs = {
    stdenv = { hostPlatform.system = sys; buildPlatform.system = sys; initialPath = [ hostTools ]; };
    buildPackages = pkgs;
    nodejs = links "nodejs" "node";
    bash = sh.bashStatic;
    coreutils = sh.bashStatic;
    cacert = runCommand "cacert" { } "mkdir -p $out/etc/ssl/certs && cp /etc/ssl/certs/ca-certificates.crt $out/etc/ssl/certs/ca-bundle.crt";
    runtimeShell = "\${sh.bashStatic}/bin/bash";
    fakeroot = links "fakeroot" "fakeroot";
    proot = links "proot" "proot";
    shadow = links "shadow" "useradd";
    fakeNss = runCommand "fake-nss" { } ''
      mkdir -p $out/etc $out/var/empty
      printf 'root:x:0:0:root user:/var/empty:/bin/sh\\nnobody:x:65534:65534:nobody:/var/empty:/bin/sh\\n' > $out/etc/passwd
      printf 'root:x:0:\\nnobody:x:65534:\\n' > $out/etc/group
    '';
    inherit runCommand;
  };
`;

describe.runIf(hasPeers(...IMAGE_PEERS))(
  'nix/ given pkgs: nixpkgs pieces for node, tools, shell and helpers',
  () => {
    const session = testRun();
    const { mark } = session;
    let file: ExpressionFile;
    let out: Record<string, string>;

    beforeAll(async () => {
      // The library is imported with pkgs alone: bash, coreutils, cacert and node come from it.
      file = await expressionFile(
        `${preamble(mark)}${STAND_IN_PKGS}
  withPkgs = import ${NIX_LIBRARY} { inherit pkgs; };
in rec {
  inherit pkgs sh;
  helpers = withPkgs.buildLayeredImage {
    name = "\${name}-helpers"; tag = "1"; compressor = "none";
    contents = [ h.hello withPkgs.binSh withPkgs.usrBinEnv withPkgs.caCertificates withPkgs.fakeNss ];
    fakeRootCommands = "mkdir -p home/alice && chown 1000:1000 home/alice";
    config.Cmd = [ "/bin/sh" "-c" "\${bb} readlink /bin/sh; \${bb} readlink /usr/bin/env; \${bb} readlink /etc/ssl/certs/ca-bundle.crt; \${bb} cat /etc/passwd; \${bb} stat -c %u /home/alice; hello" ];
  };
  stream = withPkgs.streamLayeredImage { name = "\${name}-stream"; contents = [ h.hello ]; config = helloCmd; };
  shell = withPkgs.buildNixShellImage { drv = sh.target; name = "\${name}-shell"; tag = "1"; compressor = "none"; run = "echo \\"$SSL_CERT_FILE\\""; };
}
`,
      );
      out = await file.build('helpers', 'stream', 'shell');
    });

    afterAll(async () => {
      await session.cleanup({ paths: Object.values(out ?? {}), file, attrs: ['helpers.conf', 'stream.conf', 'shell.conf'] });
    });

    it("makes the helpers from pkgs (bash, coreutils, cacert, fakeNss) and runs scripts with pkgs' tools", async () => {
      const [bash, cacert] = await Promise.all([file.eval<string>('pkgs.bash.outPath'), file.eval<string>('pkgs.cacert.outPath')]);
      const image = await session.load(out.helpers!);
      const { stdout, stderr } = await podmanRun(image);
      expect(stderr).toBe('');
      expect(stdout.split('\n')).toEqual([
        `${bash}/bin/bash`,
        `${bash}/bin/env`,
        `${cacert}/etc/ssl/certs/ca-bundle.crt`,
        'root:x:0:0:root user:/var/empty:/bin/sh',
        'nobody:x:65534:65534:nobody:/var/empty:/bin/sh',
        '1000',
        HELLO,
        expect.stringMatching(/^from \/nix\/store\//),
        '',
      ]);
    });

    it("runs the stream script with pkgs' runtimeShell and strata with pkgs' node", async () => {
      const [shell, node] = await Promise.all([file.eval<string>('pkgs.runtimeShell'), file.eval<string>('pkgs.nodejs.outPath')]);
      const script = await readFile(out.stream!, 'utf8');
      expect(script.split('\n')[0]).toBe(`#!${shell}`);
      expect(script).toContain(`exec '${node}/bin/node' `);
      const image = await streamIntoPodman(out.stream!);
      session.loaded(image);
      expect((await podmanRun(image)).stdout).toContain(HELLO);
    });

    it("gives nix-shell images pkgs' cacert", async () => {
      const cacert = await file.eval<string>('pkgs.cacert.outPath');
      const image = await session.load(out.shell!);
      expect((await podmanRun(image)).stdout).toBe(`${cacert}/etc/ssl/certs/ca-bundle.crt\n`);
    });
  },
);
