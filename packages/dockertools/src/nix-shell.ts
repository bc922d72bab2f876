import { lstat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type ClosureCacheStore, ClosureError, type ClosureSource, isDerivationPath, resolveRoots, toStorePath } from '@strata/closure';
import type { Compressor, SavedImage } from '@strata/image';
import { type NixShellImage, type NixShellImageOptions as ShellOptions, prepareNixShellImage } from '@strata/nix-shell';
import { writeGeneratedStore } from './_generated-store.js';
import { DockerToolsError } from './errors.js';
import { type BuiltImage, saveBuiltImage, streamLayered } from './layered.js';
import type { RunOptions } from './options.js';

/**
 * nixpkgs' `streamNixShellImage` / `buildNixShellImage` arguments with their defaults (`name`,
 * `tag`, `uid`, `gid`, `homeDirectory`, `shell`, `command`, `run`, as @strata/nix-shell takes them,
 * plus `cacert`), the derivation as a `.drv` path, and what strata adds: where the store is and what
 * /usr/bin/env leads to (strata cannot evaluate nixpkgs' bash and coreutils). Without `tag`, the tag
 * is a hash of the image's inputs, as for streamLayeredImage.
 */
export interface NixShellImageOptions extends ShellOptions, RunOptions {
  /** The derivation: a `.drv` store path, or a link to one (nixpkgs takes the derivation value). Required. */
  readonly drv: string;
  /**
   * What `/usr/bin/env` leads to, a file in the store (nixpkgs: coreutils' `bin/env`).
   * @default `env` beside the shell when there is one; otherwise no /usr/bin/env
   */
  readonly usrBinEnv?: string;
  /** Where the closure of the inputs comes from. @default 'nix' when Nix is installed, else 'scan' */
  readonly closureSource?: ClosureSource;
  /** Where live Nix's answers are kept (see the layered builders' `closureCache`). @default none */
  readonly closureCache?: ClosureCacheStore;
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/** The `.drv` store path `drv` names (links followed), or an INVALID_OPTION naming `drv`. */
async function resolveDrv(drv: unknown, storeRoot: string): Promise<string> {
  if (typeof drv !== 'string' || drv === '') throw new DockerToolsError('INVALID_OPTION', 'drv: required: a .drv store path, as nix-instantiate prints it');
  let path: string;
  try {
    [path] = (await resolveRoots([drv], { storeRoot })) as [string];
  } catch (error) {
    if (error instanceof ClosureError) throw new DockerToolsError('INVALID_OPTION', `drv: ${error.message.replace(/^closure: /, '')}`, { cause: error });
    throw error;
  }
  if (!isDerivationPath(path)) {
    throw new DockerToolsError('INVALID_OPTION', `drv: ${path} is not a derivation (.drv): nix-instantiate prints an expression's, nix-store --query --deriver a built path's`);
  }
  return path;
}

/** The target of /usr/bin/env: the option (checked to be in the store), or `env` beside the shell, or none (said). */
async function usrBinEnvOf(options: NixShellImageOptions, shell: string, storeRoot: string): Promise<string | undefined> {
  if (options.usrBinEnv !== undefined) {
    if (toStorePath(options.usrBinEnv) === undefined || !(await exists(join(storeRoot, options.usrBinEnv)))) {
      throw new DockerToolsError('INVALID_OPTION', `usrBinEnv: ${options.usrBinEnv} is not a file in the store (nixpkgs links coreutils' bin/env)`);
    }
    return options.usrBinEnv;
  }
  const beside = join(dirname(shell), 'env');
  if (await exists(join(storeRoot, beside))) return beside;
  options.onNotice?.(`no /usr/bin/env: the shell's directory has no env; give usrBinEnv (nixpkgs links coreutils' bin/env)`);
  return undefined;
}

/** The customisation layer's arguments, as nixpkgs passes them to streamLayeredImage. */
function layeredArguments(shell: NixShellImage, options: NixShellImageOptions, usrBinEnv: string | undefined) {
  return {
    name: shell.name,
    tag: shell.tag,
    config: shell.config,
    binSh: shell.binSh,
    usrBinEnv,
    fakeNss: shell.fakeNss,
    fakeRootCommands: shell.fakeRootCommands,
    storeRoot: options.storeRoot,
    closureSource: options.closureSource,
    closureCache: options.closureCache,
    signal: options.signal,
    onNotice: options.onNotice,
  };
}

/**
 * nixpkgs' `streamNixShellImage`: an image that gives `nix-shell` for a derivation, as a lazy value
 * for a sink. Built as nixpkgs builds it, with the layered builder: /bin/sh, /usr/bin/env, fakeNss
 * with the build user `nixbld`, a store, Nix state and /build owned by that user, the config (Cmd
 * runs the rcfile; Env is the derivation's environment). The image's closure is the real closure of
 * the derivation's inputs and the shell, plus the store objects nixpkgs writes with writeText
 * (rcfile, passAsFile files, buildDerivation): strata writes those itself, with the store paths and
 * NAR hashes Nix would give them, and plans them into store layers with the rest. The derivation's
 * own outputs are not in the image: `buildDerivation` builds them in the container.
 * Refuses `__structuredAttrs`, and `command` with `run`; names inputs that are not in the store and
 * the command that realises them (`MissingInputsError`). Call `dispose()` when done.
 * @example
 * const image = await streamNixShellImage({ drv: '/nix/store/…-hello-2.12.drv', shell: '/nix/store/…-bash-5.2/bin/bash' });
 * try { await pipeline(writeDockerArchive(image), process.stdout); } finally { await image.dispose(); }
 */
export async function streamNixShellImage(options: NixShellImageOptions): Promise<BuiltImage> {
  const storeRoot = options.storeRoot ?? '';
  const drv = await resolveDrv(options.drv, storeRoot);
  const { name, tag, uid, gid, homeDirectory, command, run, cacert } = options;
  const shell = await prepareNixShellImage(drv, { name, tag, uid, gid, homeDirectory, shell: options.shell, command, run, cacert, storeRoot });
  const usrBinEnv = await usrBinEnvOf(options, shell.binSh, storeRoot);
  const generated = await writeGeneratedStore(shell.generated, shell.files);
  try {
    const image = await streamLayered(layeredArguments(shell, options, usrBinEnv), {
      // nixpkgs' config carries the string context of the derivation's attributes (its inputs) and
      // of the written files, but not of its own outputs, which it names without context.
      configReferences: [...shell.closureRoots, ...shell.generated.map((g) => g.path)],
      generated,
    });
    return {
      ...image,
      dispose: async () => {
        try {
          await image.dispose();
        } finally {
          await generated.dispose();
        }
      },
    };
  } catch (error) {
    await generated.dispose();
    throw error;
  }
}

/** Options for {@link buildNixShellImage}: streamNixShellImage's, plus the file to write and nixpkgs' `compressor`. */
export interface BuildNixShellImageOptions extends NixShellImageOptions {
  /** The image file to write, atomically (nixpkgs names it `<drv name>-env.tar<ext>`). */
  readonly output: string;
  /** Whole-archive compression. @default 'gz' */
  readonly compressor?: Compressor;
}

/**
 * nixpkgs' `buildNixShellImage`: {@link streamNixShellImage} written to a file, compressed as a
 * whole (`gz` by default, `zstd` or `none`), atomically.
 * @example await buildNixShellImage({ drv, shell, run: 'buildDerivation', output: 'hello-env.tar', compressor: 'none' });
 */
export async function buildNixShellImage(options: BuildNixShellImageOptions): Promise<SavedImage & { readonly imageTag: string }> {
  return saveBuiltImage(await streamNixShellImage(options), options);
}
