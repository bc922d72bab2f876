import * as z from 'zod';
import { DockerToolsError } from './errors.js';
import type { NixShellImageOptions } from './nix-shell.js';
import { CLOSURE_SOURCES, describeSpecError, type RawSpec } from './spec.js';

const id = z.number().int().nonnegative();

/** The spec of a nix-shell image: nixpkgs' streamNixShellImage argument names, plus strata's. */
const NixShellSpecSchema = z
  .object({
    drv: z.string().min(1),
    name: z.string().min(1),
    tag: z.string(),
    uid: id,
    gid: id,
    homeDirectory: z.string().min(1),
    shell: z.string().min(1),
    command: z.string(),
    run: z.string(),
    cacert: z.string().min(1),
    usrBinEnv: z.string().min(1),
    storeRoot: z.string(),
    closureSource: z.enum(CLOSURE_SOURCES),
  })
  .partial()
  .strict();

/** Nix-shell spec keys that name files: relative values are taken from the spec file's directory. */
export const NIX_SHELL_SPEC_PATH_KEYS = ['drv', 'storeRoot'] as const;

/** True when a spec describes a nix-shell image (it names a derivation, which a layered spec never does). */
export function isNixShellSpec(raw: RawSpec): boolean {
  return Object.hasOwn(raw, 'drv');
}

/**
 * Validates raw nix-shell image arguments (a spec file's JSON, flags laid over it) into
 * {@link NixShellImageOptions}; `where` names them in messages (`shell.json.uid: ...`).
 */
export function parseNixShellSpec(raw: RawSpec, where = 'spec'): NixShellImageOptions {
  const result = NixShellSpecSchema.safeParse(raw);
  if (!result.success) throw new DockerToolsError('INVALID_OPTION', describeSpecError(result.error, where), { cause: result.error });
  const { drv, shell, ...rest } = result.data;
  if (drv === undefined) throw new DockerToolsError('INVALID_OPTION', `${where}.drv: required: the .drv store path of the derivation (nix-instantiate prints it)`);
  if (shell === undefined) {
    throw new DockerToolsError(
      'INVALID_OPTION',
      `${where}.shell: required: a bash in the Nix store that runs in a container (nixpkgs uses lib.getExe pkgs.bash, which strata cannot evaluate without nixpkgs)`,
    );
  }
  return { ...rest, drv, shell };
}
