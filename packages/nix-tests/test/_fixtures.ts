import { helloExpression, nixShellExpression, type Peer, PODMAN_GLOBAL, run } from '@strata/test-utils';
import { NIX_LIBRARY } from './_nix.js';

/**
 * The `let` bindings the tests' expressions start with (no nixpkgs anywhere):
 * - `h`: the hello closure of test-utils (`h.hello`, `h.greeting`, `h.busybox`), shared by all runs;
 * - `sh`: test-utils' nix-shell fixtures (`sh.bashStatic`: a static bash with bin/sh and bin/env,
 *   `sh.target`: a derivation to make a nix-shell image of);
 * - `dockerTools`: the library, given `sh.bashStatic` as bash and coreutils (binSh, usrBinEnv) and
 *   `extraArgs` (a Nix attribute-set body);
 * - `name`: `mark`, the prefix of every image name of the run (podman and the store are shared).
 */
export function preamble(mark: string, extraArgs = ''): string {
  return `let
  h = ${helloExpression()};
  sh = ${nixShellExpression({ nonce: 'nix-library' })};
  dockerTools = import ${NIX_LIBRARY} { bash = sh.bashStatic; coreutils = sh.bashStatic; ${extraArgs} };
  name = "${mark}";
  helloCmd = { Cmd = [ "\${h.hello}/bin/hello" ]; };
  bb = "\${h.busybox}/bin/busybox";
`;
}

/** What building and running the library's images needs (the static busybox and bash are the fixtures' programs). */
export const IMAGE_PEERS: Peer[] = ['nix-build', 'nix-instantiate', 'nix-store', 'podman', 'busybox', 'bash-static', 'fakeroot'];

/** The hello closure's output: what `hello` prints before its store path. */
export const HELLO = 'Hello, world!';

/** Runs `script` (a stream script) and pipes what it writes into `podman load`; returns the loaded name. */
export async function streamIntoPodman(script: string): Promise<string> {
  const load = ['podman', ...PODMAN_GLOBAL, 'load', '-q'].join(' ');
  const { stdout } = await run('bash', ['-o', 'pipefail', '-c', `"$0" | ${load}`, script]);
  const match = /Loaded image(?:\(s\))?:\s*(\S+)/.exec(stdout);
  if (!match?.[1]) throw new Error(`podman load printed no image name:\n${stdout}`);
  return match[1];
}

/** Decompresses `archive` with `tool -dc` and pipes it into `podman load` (podman 4.3 loads only plain archives). */
export async function decompressIntoPodman(tool: 'gzip' | 'zstd', archive: string): Promise<string> {
  const load = ['podman', ...PODMAN_GLOBAL, 'load', '-q'].join(' ');
  const { stdout } = await run('bash', ['-o', 'pipefail', '-c', `${tool} -dc "$0" | ${load}`, archive]);
  const match = /Loaded image(?:\(s\))?:\s*(\S+)/.exec(stdout);
  if (!match?.[1]) throw new Error(`podman load printed no image name:\n${stdout}`);
  return match[1];
}
