import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ExecResult, type RunOptions, run } from './exec.js';
import { makeTempDir } from './tmp.js';

/** Options every nix-build in the tests needs on these machines (root, no build users, no sandbox, no binary cache). */
export const NIX_OPTIONS = [
  '--option', 'sandbox', 'false',
  '--option', 'build-users-group', '',
  '--option', 'substituters', '',
] as const;

/**
 * Debian 12's Nix 2.8 now and then reports a builder that had finished as "failed due to signal 9
 * (Killed)": it takes the end of the builder's log pipe for the end of the build and kills the
 * process group before reaping the exit status. That is the peer's race, not the build's failure.
 */
const NIX_KILLED_BUILDER = /failed due to signal 9 \(Killed\)/;

/**
 * Runs `nix-build ARGS` as {@link run} does, building once more when Nix 2.8 killed a builder
 * (see {@link NIX_KILLED_BUILDER}); any other failure, or the same one twice, stands.
 */
export async function runNixBuild(args: readonly string[], options: RunOptions = {}): Promise<ExecResult> {
  const first = await run('nix-build', args, { ...options, allowFailure: true });
  if (first.exitCode === 0 || !NIX_KILLED_BUILDER.test(first.stderr)) {
    if (first.exitCode !== 0 && !options.allowFailure) throw new Error(`nix-build ${args.join(' ')} exited ${first.exitCode}\n${first.stderr}${first.stdout}`);
    return first;
  }
  process.stderr.write(`nix-build ${args.join(' ')}: Nix killed a builder (signal 9); building once more\n`);
  return run('nix-build', args, options);
}

/** Options for {@link buildNix}. */
export interface BuildNixOptions {
  /** Build into a chroot store (`--store local?root=DIR`) instead of the host's /nix/store. */
  readonly storeRoot?: string;
  /** Attribute to build from the expression (`-A`). @default the whole expression */
  readonly attr?: string;
  /** Experimental features the expression needs (`ca-derivations`, `impure-derivations`). */
  readonly experimentalFeatures?: readonly string[];
}

function featureArgs(features: readonly string[] | undefined): string[] {
  return features?.length ? ['--extra-experimental-features', features.join(' ')] : [];
}

/** Writes `expression` to a temporary default.nix, runs `program` on it and returns the lines it printed. */
async function runOnExpression(program: string, expression: string, args: readonly string[], storeRoot: string | undefined): Promise<string[]> {
  const dir = await makeTempDir('strata-nix-');
  try {
    const file = join(dir.path, 'default.nix');
    await writeFile(file, expression);
    const all = [...NIX_OPTIONS, file, ...args];
    if (storeRoot) {
      await mkdir(storeRoot, { recursive: true });
      all.push('--store', `local?root=${storeRoot}`);
    }
    const { stdout } = program === 'nix-build' ? await runNixBuild(all) : await run(program, all);
    return stdout.split('\n').filter(Boolean);
  } finally {
    await dir.remove();
  }
}

/**
 * Builds a Nix expression with the real nix-build and returns the output store paths.
 * Derivations should use `builder = "/bin/sh"`: no binary cache is reachable here, and the sandbox is off.
 */
export function buildNix(expression: string, options: BuildNixOptions = {}): Promise<string[]> {
  const args = ['--no-out-link', ...(options.attr ? ['-A', options.attr] : []), ...featureArgs(options.experimentalFeatures)];
  return runOnExpression('nix-build', expression, args, options.storeRoot);
}

/** Options for {@link instantiateNix}. */
export interface InstantiateNixOptions {
  /** Write the derivations into a chroot store (`--store local?root=DIR`). */
  readonly storeRoot?: string;
  /** Experimental features the expression needs (`ca-derivations`, `impure-derivations`). */
  readonly experimentalFeatures?: readonly string[];
}

/**
 * Instantiates a Nix expression with the real nix-instantiate (nothing is built) and returns the
 * `.drv` store paths it printed, in its order.
 */
export function instantiateNix(expression: string, options: InstantiateNixOptions = {}): Promise<string[]> {
  return runOnExpression('nix-instantiate', expression, featureArgs(options.experimentalFeatures), options.storeRoot);
}

/** A `derivation` built by running `script` with /bin/sh and the host's coreutils on PATH. */
export function shDerivation(name: string, script: string): string {
  const escaped = script.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('${', '\\${');
  return `derivation { name = "${name}"; system = builtins.currentSystem; builder = "/bin/sh"; PATH = "/usr/bin:/bin"; args = [ "-c" "${escaped}" ]; }`;
}

/**
 * The Nix expression of a small runnable closure, an attribute set:
 * - `busybox`: the host's static busybox with `bin/sh` linked to it (no references);
 * - `greeting`: a data path (a long file name, a hardlink, a nested directory) that refers to busybox;
 * - `hello`: `bin/hello`, a `#!busybox/bin/sh` script printing `Hello, world!` and the greeting file;
 *   it refers to itself, busybox and greeting (a diamond with a self-reference).
 * `message` changes the printed greeting (and so the hashes).
 */
export function helloExpression(message = 'Hello, world!'): string {
  return `let
  sh = args: name: derivation ({ inherit name; system = builtins.currentSystem; builder = "/bin/sh"; PATH = "/usr/bin:/bin"; } // args);
  busybox = sh { args = [ "-c" "mkdir -p $out/bin && cp /bin/busybox $out/bin/busybox && ln -s busybox $out/bin/sh" ]; } "busybox-static-1.35";
  greeting = sh { inherit busybox; msg = "${message.replaceAll('"', '\\"')}"; args = [ "-c" ''
    mkdir -p $out/share/greeting/deeply/nested/directory/with/a/rather/long/name/to/force/pax/headers/beyond/one/hundred
    echo "$msg" > $out/share/greeting/message
    ln $out/share/greeting/message $out/share/greeting/message-hardlink
    echo "interpreter $busybox/bin/sh" > $out/share/greeting/deeply/nested/directory/with/a/rather/long/name/to/force/pax/headers/beyond/one/hundred/file-with-a-long-name.txt
    chmod 0644 $out/share/greeting/message
  '' ]; } "greeting-data";
  hello = sh { inherit busybox greeting; args = [ "-c" ''
    mkdir -p $out/bin
    printf '#!%s/bin/sh\\ncat %s/share/greeting/message\\necho from %s\\n' $busybox $greeting $out > $out/bin/hello
    chmod 0555 $out/bin/hello
  '' ]; } "hello-app-1.0";
in { inherit busybox greeting hello; }
`;
}

/** The store paths of the hello closure built by {@link buildHelloClosure}. */
export interface HelloClosure {
  readonly hello: string;
  readonly greeting: string;
  readonly busybox: string;
}

/** Builds {@link helloExpression} with real Nix and returns its three store paths. */
export async function buildHelloClosure(options: { message?: string; storeRoot?: string } = {}): Promise<HelloClosure> {
  const expr = helloExpression(options.message);
  const buildOptions = options.storeRoot ? { storeRoot: options.storeRoot } : {};
  const [hello] = await buildNix(expr, { ...buildOptions, attr: 'hello' });
  const [greeting] = await buildNix(expr, { ...buildOptions, attr: 'greeting' });
  const [busybox] = await buildNix(expr, { ...buildOptions, attr: 'busybox' });
  if (!hello || !greeting || !busybox) throw new Error('nix-build returned no output path');
  return { hello, greeting, busybox };
}

/** What `nix path-info --json --recursive` reports for a path, normalised to one record per path. */
export interface NixPathInfo {
  readonly path: string;
  readonly narHash: string;
  readonly narSize: number;
  readonly references: readonly string[];
}

/** Asks the real Nix for the closure of `roots` (accepts the array and the object shape of the JSON). */
export async function nixPathInfo(roots: readonly string[], storeRoot?: string): Promise<NixPathInfo[]> {
  const args = ['path-info', '--json', '--recursive', '--extra-experimental-features', 'nix-command', ...roots];
  if (storeRoot) args.push('--store', `local?root=${storeRoot}`);
  const { stdout } = await run('nix', args);
  const parsed = JSON.parse(stdout) as unknown;
  const entries = Array.isArray(parsed)
    ? (parsed as NixPathInfo[])
    : Object.entries(parsed as Record<string, Omit<NixPathInfo, 'path'>>).map(([path, v]) => ({ ...v, path }));
  return entries
    .map((e) => ({ path: e.path, narHash: e.narHash, narSize: e.narSize, references: [...e.references].sort() }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Has real Nix write the references graph of `roots` as nixpkgs' `exportReferencesGraph` does with
 * structured attrs, and returns the store path of that JSON file (an object whose `graph` key is the
 * list of `{path, narHash, narSize, closureSize, references}`).
 */
export async function exportReferencesGraph(roots: readonly string[]): Promise<string> {
  const list = roots.map((r) => `(builtins.storePath "${r}")`).join(' ');
  const expr = `derivation {
  name = "references-graph"; system = builtins.currentSystem; builder = "/bin/bash";
  __structuredAttrs = true; exportReferencesGraph.graph = [ ${list} ];
  args = [ "-c" ". .attrs.sh; /bin/cp .attrs.json \\\${outputs[out]}; true" ];
}`;
  const [out] = await buildNix(expr);
  if (!out) throw new Error('exportReferencesGraph: nix-build returned no path');
  return out;
}

/** Copies the closure of `paths` into a chroot store at `storeRoot` with its Nix database (`nix copy`). */
export async function copyToChrootStore(paths: readonly string[], storeRoot: string): Promise<void> {
  await mkdir(storeRoot, { recursive: true });
  await run('nix', ['copy', '--extra-experimental-features', 'nix-command', '--no-check-sigs', '--to', `local?root=${storeRoot}`, ...paths]);
}

/** Copies just the files of `paths` into `DIR/nix/store` (no Nix database), as a bare copy of a store. */
export async function copyStoreFiles(paths: readonly string[], storeRoot: string): Promise<void> {
  const store = join(storeRoot, 'nix/store');
  await mkdir(store, { recursive: true });
  await run('cp', ['-a', ...paths, store]);
}
