import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './exec.js';
import { helloExpression } from './nix.js';

/** Options for {@link nixShellExpression}. */
export interface NixShellExpressionOptions {
  /** Changes `needsUnbuilt`'s input, so it is never built by an earlier run. */
  readonly nonce: string;
  /** The target's shellHook. @default 'export HOOKED=yes' */
  readonly shellHook?: string;
}

/**
 * The Nix expression of derivations to make nix-shell images of, an attribute set (all built by
 * /bin/sh or the static busybox, so they build offline with the sandbox off):
 * - `bash`: the host's bash copied into the store (dynamically linked: runs where the host's
 *   libraries are), `bashStatic`: Debian's bash-static as `bin/bash` with `bin/sh` and `bin/env`
 *   (busybox's) beside it, which runs in any container;
 * - `stdenv`: a stand-in stdenv whose `setup` defines runHook and exports SETUP_SOURCED;
 * - `target`: a derivation with an input derivation (greeting), an input source (note), a
 *   passAsFile variable with every kind of character, a shellHook, two outputs;
 * - `needsUnbuilt`: a derivation whose input derivation is never built;
 * - `busybox`, `greeting` from {@link helloExpression}.
 */
export function nixShellExpression(options: NixShellExpressionOptions): string {
  const hook = (options.shellHook ?? 'export HOOKED=yes').replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('${', '\\${');
  return `let
  h = ${helloExpression()};
  sys = builtins.currentSystem;
  bash = derivation { name = "bash-host"; system = sys; builder = "/bin/sh"; args = [ "-c" "/bin/mkdir -p $out/bin && /bin/cp /usr/bin/bash $out/bin/bash" ]; };
  bashStatic = derivation { name = "bash-static-5"; system = sys; builder = "/bin/sh"; inherit (h) busybox; args = [ "-c" ''
    /bin/mkdir -p $out/bin && /bin/cp /bin/bash-static $out/bin/bash && /bin/ln -s bash $out/bin/sh && /bin/ln -s $busybox/bin/busybox $out/bin/env
  '' ]; };
  stdenv = derivation { name = "fake-stdenv"; system = sys; builder = "/bin/sh"; args = [ "-c" ''
    /bin/mkdir $out
    /bin/cat > $out/setup <<'EOF'
    runHook() { local hook="$1"; eval "''\${!hook}"; }
    export SETUP_SOURCED=yes
    EOF
  '' ]; };
  target = derivation {
    name = "shell-target"; system = sys; builder = "\${h.busybox}/bin/sh"; outputs = [ "out" "doc" ];
    args = [ "-e" "-c" ''
      bb=$busybox/bin/busybox
      $bb mkdir -p $out/share $doc
      $bb cp $messagePath $out/share/message
      $bb cat $greeting/share/greeting/message > $out/share/greeting
      $bb cat $note > $doc/note
    '' ];
    inherit (h) busybox greeting; inherit stdenv;
    note = builtins.toFile "note.txt" "a note";
    message = "multi\\nline \\"double\\" 'single' \\\\ back \\$dollar \\\${brace} ü\\ttab";
    passAsFile = [ "message" ];
    shellHook = "${hook}";
    PATH = "\${h.busybox}/bin";
  };
  unbuilt = derivation { name = "never-built"; system = sys; builder = "/bin/sh"; nonce = "${options.nonce}"; args = [ "-c" "echo built > $out" ]; };
  needsUnbuilt = derivation { name = "needs-unbuilt"; system = sys; builder = "/bin/sh"; inherit unbuilt; args = [ "-c" "echo > $out" ]; };
in { inherit bash bashStatic stdenv target needsUnbuilt; inherit (h) busybox greeting; }`;
}

/** `NAME=value\0...` as printed by `env -0`, as a map. */
export function parseEnv0(text: string): Map<string, string> {
  return new Map(text.split('\0').filter(Boolean).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as [string, string]));
}

/**
 * The environment `nix-shell --pure DRV` gives on the host with `shell` as its shell
 * (NIX_BUILD_SHELL), as `"$busybox/bin/busybox" env -0` prints it; `dir` is a scratch directory
 * (HOME, and where the output goes).
 */
export async function nixShellPureEnv(drv: string, shell: string, dir: string): Promise<Map<string, string>> {
  const envFile = join(dir, 'nix-shell.env');
  await run('env', ['-i', `HOME=${dir}`, 'PATH=/usr/bin:/bin', `NIX_BUILD_SHELL=${shell}`, 'nix-shell', '--pure', drv, '--run', `"$busybox/bin/busybox" env -0 > ${envFile}`]);
  return parseEnv0(await readFile(envFile, 'utf8'));
}
