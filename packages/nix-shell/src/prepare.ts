import { dirname } from 'node:path';
import { compareStrings, type Derivation, readDerivation } from '@strata/closure';
import { buildDerivationScript } from './build-derivation.js';
import { nixShellEnv, passAsFileNames, SANDBOX_BUILD_DIR } from './env.js';
import { NixShellError } from './errors.js';
import { type GeneratedFile, type GeneratedStorePath, generateScriptBin, generateTextFile, passAsFileStoreName } from './generated.js';
import { resolveShellInputs } from './inputs.js';
import { type NixShellImageOptions, type ResolvedNixShellImageOptions, resolveNixShellImageOptions } from './options.js';
import { renderRcfile } from './rcfile.js';

/** The image config of a nix-shell image (OCI/Docker config field names). */
export interface NixShellImageConfig {
  /** `uid:gid`. */
  readonly User: string;
  /** `/build`, the sandbox's build directory (not the home directory), as in nixpkgs. */
  readonly WorkingDir: string;
  /** `[shell, "--rcfile", rcfile]` (interactive), or `[shell, rcfile]` when `run` is given. */
  readonly Cmd: readonly string[];
  readonly Env: readonly string[];
}

/** Everything a nix-shell image holds besides the store paths of its closure, as plain data. */
export interface NixShellImage {
  readonly name: string;
  readonly tag?: string;
  readonly derivation: Derivation;
  /**
   * Store paths, in the store, the image's closure starts from: input sources, the outputs of input
   * derivations the derivation uses, the shell's and cacert's store paths. Sorted.
   */
  readonly closureRoots: readonly string[];
  /**
   * Store objects strata made (buildDerivation, the rcfile, one file per passAsFile variable): not
   * in the store; the image builder adds them as store paths. Their references are closure roots
   * or each other. Sorted by path.
   */
  readonly generated: readonly GeneratedStorePath[];
  /** Every file of `generated`, to write into the image. */
  readonly files: readonly GeneratedFile[];
  /** The rcfile's path (a generated text file). */
  readonly rcfile: string;
  /** The buildDerivation script's path (`<generated>/bin/buildDerivation`). */
  readonly buildDerivation: string;
  /** The environment, `NAME=value` sorted by name (also `config.Env`). */
  readonly env: readonly string[];
  readonly config: NixShellImageConfig;
  /** Lines for fakeNss: the build user `nixbld` with the image's uid, gid and home directory. */
  readonly fakeNss: { readonly extraPasswdLines: readonly string[]; readonly extraGroupLines: readonly string[] };
  /** Run as root in the customisation layer: a store, Nix state, /etc/nix and /build owned by the build user. */
  readonly fakeRootCommands: string;
  /** What `/bin/sh` should lead to (nixpkgs' `binSh` links bash; strata the shell). */
  readonly binSh: string;
}

function refuseStructuredAttrs(drv: Derivation): void {
  if (Object.hasOwn(drv.env, '__json')) {
    throw new NixShellError('STRUCTURED_ATTRS', `the derivation ${drv.path ?? drv.name} uses __structuredAttrs, which nix-shell images do not support (as in nixpkgs)`);
  }
}

/**
 * The parts of a nix-shell image of `drv`, given the roots its closure starts from (see
 * {@link prepareNixShellImage}, which finds them). Pure: no I/O.
 */
export function planNixShellImage(drv: Derivation, closureRoots: readonly string[], options: ResolvedNixShellImageOptions): NixShellImage {
  refuseStructuredAttrs(drv);
  const { shell, uid, gid, homeDirectory } = options;
  const buildDerivation = generateScriptBin('buildDerivation', buildDerivationScript(drv.builder, drv.args, shell), closureRoots);
  const staticPath = `${dirname(shell)}:${buildDerivation.path}/bin`;
  const passAsFilePaths = new Map<string, string>();
  const passAsFiles: GeneratedStorePath[] = [];
  for (const name of passAsFileNames(drv)) {
    const value = drv.env[name];
    if (value === undefined || passAsFilePaths.has(name)) continue;
    const file = generateTextFile(passAsFileStoreName(name), value, closureRoots);
    passAsFilePaths.set(name, file.path);
    passAsFiles.push(file);
  }
  const rcText = renderRcfile({ shell, staticPath, hasStdenv: Object.hasOwn(drv.env, 'stdenv'), command: options.command, run: options.run });
  const rcfile = generateTextFile('nix-shell-rc', rcText, [...closureRoots, buildDerivation.path]);
  const env = nixShellEnv(drv, { homeDirectory, staticPath, cacert: options.cacert, passAsFilePaths });
  const byPath = new Map([buildDerivation, ...passAsFiles, rcfile].map((g) => [g.path, g]));
  const generated = [...byPath.values()].sort((a, b) => compareStrings(a.path, b.path));
  const owner = `${uid}:${gid}`;
  return {
    name: options.name,
    ...(options.tag !== undefined ? { tag: options.tag } : {}),
    derivation: drv,
    closureRoots: [...closureRoots],
    generated,
    files: generated.flatMap((g) => g.files),
    rcfile: rcfile.path,
    buildDerivation: buildDerivation.files[0]!.path,
    env,
    config: { User: owner, WorkingDir: SANDBOX_BUILD_DIR, Cmd: options.run === undefined ? [shell, '--rcfile', rcfile.path] : [shell, rcfile.path], Env: env },
    fakeNss: {
      extraPasswdLines: [`nixbld:x:${uid}:${gid}:Build user:${homeDirectory}:/noshell`],
      extraGroupLines: [`nixbld:!:${gid}:`],
    },
    // A single-user Nix installation owned by the build user, so buildDerivation can write its
    // outputs into /nix/store; and the build directory. (nixpkgs writes ./nix/{store,var/nix}: bash.)
    fakeRootCommands: [
      'mkdir -p ./nix/store ./nix/var/nix ./etc/nix',
      `chown -R ${owner} ./nix ./etc/nix`,
      `mkdir -p .${SANDBOX_BUILD_DIR}`,
      `chown -R ${owner} .${SANDBOX_BUILD_DIR}`,
      '',
    ].join('\n'),
    binSh: shell,
  };
}

/**
 * Computes everything a nix-shell image of a derivation needs (nixpkgs' `streamNixShellImage`),
 * as plain data for an image builder: reads the `.drv` file and its input derivations, checks that
 * every input is in the store, and plans the environment, rcfile, buildDerivation, generated store
 * objects, config, fakeNss lines and fakeRootCommands. No Nix evaluation, no nixpkgs.
 * @example
 * const image = await prepareNixShellImage('/nix/store/…-hello-2.12.drv', { shell: '/nix/store/…-bash-5.2/bin/bash', run: 'buildDerivation' });
 * image.config.Cmd; // ['/nix/store/…-bash-5.2/bin/bash', '/nix/store/…-nix-shell-rc']
 */
export async function prepareNixShellImage(derivation: Derivation | string, options: NixShellImageOptions): Promise<NixShellImage> {
  const storeRoot = options.storeRoot || undefined;
  const drv = typeof derivation === 'string' ? await readDerivation(derivation, storeRoot ? { storeRoot } : {}) : derivation;
  refuseStructuredAttrs(drv);
  const resolved = resolveNixShellImageOptions(options, drv.name);
  const closureRoots = await resolveShellInputs(drv, resolved);
  return planNixShellImage(drv, closureRoots, resolved);
}
