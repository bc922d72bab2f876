import type { Image } from '@strata/image';
import type { RunAsRootOptions } from '@strata/vm';
import type { ContainerConfig } from '@strata/manifest';
import { DockerToolsError } from './errors.js';
import { repoTag } from '@strata/manifest';
import { checked, type ClosureOptions, type DateInput, normaliseConfig, resolveDate, type RunOptions } from './options.js';

/** How the runAsRoot VM runs (strata's, not nixpkgs' arguments). */
export type VmSettings = Pick<RunAsRootOptions, 'accel' | 'timeoutMs' | 'cacheDir' | 'tmpDir' | 'components'>;

/**
 * nixpkgs' `buildImage` arguments (pkgs.dockerTools), with their defaults; only `name` is required.
 * Beyond nixpkgs: where the closure comes from (`referencesGraph`, `storeRoot`, `closureSource`),
 * `fromImage` as an image value, `signal` and `onNotice`.
 */
export interface BuildImageOptions extends ClosureOptions, RunOptions {
  /** Image name; lower-cased in RepoTags; may carry a registry prefix (`registry.example/app`). */
  readonly name: string;
  /** @default the first 32 hex digits of the sha256 of the image's inputs and of what its new layer holds */
  readonly tag?: string;
  /** The base image: a docker-archive file (plain, gz or zstd), or an image value whose layers' diffIDs are known. @default none */
  readonly fromImage?: string | Image;
  /** Selects the base image in a multi-image archive, together with fromImageTag. @default the first image */
  readonly fromImageName?: string;
  /** @default the first image */
  readonly fromImageTag?: string;
  /** Paths (store paths, links into the store, local directories) whose contents are copied to `/`. @default none */
  readonly copyToRoot?: string | readonly string[];
  /** @deprecated nixpkgs' old name of copyToRoot: the same, with a notice; giving both is an error. */
  readonly contents?: string | readonly string[];
  /** Keep symlinks to directories as links (rsync -K) instead of copying what they point at (rsync -k). @default false */
  readonly keepContentsDirlinks?: boolean;
  /** Docker config (Cmd, Entrypoint, Env, ...); `Cmd`/`Entrypoint` may be a string. The base image's Env is merged in. @default none */
  readonly config?: unknown;
  /** GOARCH name. @default the host's */
  readonly architecture?: string;
  /** bash run unprivileged in the new layer's directory before it is packed. @default '' */
  readonly extraCommands?: string;
  /** Owner of the copyToRoot files in the new layer (not with runAsRoot, whose owners come from the VM). @default 0 */
  readonly uid?: number;
  /** @default 0 */
  readonly gid?: number;
  /** A script run as root in a VM over the base image's filesystem with copyToRoot on top; what it changes is the layer. @default none */
  readonly runAsRoot?: string;
  /** MiB the runAsRoot script may write. @default 1024 */
  readonly diskSize?: number;
  /** MiB of memory of the runAsRoot VM. @default 512 */
  readonly buildVMMemorySize?: number;
  /** Image creation date, ISO-8601 or "now". @default '1970-01-01T00:00:01Z' */
  readonly created?: DateInput;
  /** A Nix database registering the closure of copyToRoot, with gcroots (buildImageWithNixDb). @default false */
  readonly includeNixDB?: boolean;
  /** The runAsRoot VM: accelerator, time limit, caches (see `@strata/vm`'s runAsRoot). @default KVM when it works, else TCG; 10 minutes */
  readonly vm?: VmSettings;
}

/** The options with defaults applied and values checked. */
export interface ResolvedBuildImageOptions extends ClosureOptions {
  readonly name: string;
  readonly tag?: string;
  readonly fromImage?: string | Image;
  readonly fromImageName?: string;
  readonly fromImageTag?: string;
  readonly copyToRoot: readonly string[];
  /** True when the items came as the deprecated `contents`. */
  readonly usedContents: boolean;
  readonly keepContentsDirlinks: boolean;
  readonly config: ContainerConfig;
  readonly architecture?: string;
  readonly extraCommands: string;
  readonly uid: number;
  readonly gid: number;
  readonly runAsRoot?: string;
  readonly diskSize: number;
  readonly buildVMMemorySize: number;
  readonly created: string;
  /** `created` as given, so "now" does not change the default tag (as in nixpkgs). */
  readonly createdInput: string;
  readonly includeNixDB: boolean;
}

const EPOCH_PLUS_ONE = '1970-01-01T00:00:01Z';

function list(value: string | readonly string[] | undefined): string[] {
  return value === undefined ? [] : typeof value === 'string' ? [value] : [...value];
}

function whole(value: number | undefined, fallback: number, field: string, min: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min) throw new DockerToolsError('INVALID_OPTION', `${field}: must be a whole number >= ${min}, got ${value}`);
  return v;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** Applies nixpkgs' defaults to buildImage's options and checks them; `where` names them in messages. */
export function resolveBuildImageOptions(options: BuildImageOptions, where = 'options'): ResolvedBuildImageOptions {
  if (typeof options.name !== 'string' || options.name === '') throw new DockerToolsError('INVALID_OPTION', `${where}.name: required`);
  if (options.contents !== undefined && options.copyToRoot !== undefined) {
    throw new DockerToolsError('INVALID_OPTION', `${where}.contents: the deprecated name of copyToRoot; give only one of them (copyToRoot)`);
  }
  if (typeof options.fromImage === 'object' && (options.fromImageName !== undefined || options.fromImageTag !== undefined)) {
    throw new DockerToolsError('INVALID_OPTION', `${where}.fromImageName: selects an image in an archive file, but fromImage is an image value`);
  }
  if (options.tag !== undefined) checked(() => repoTag(options.name, options.tag!));
  if (options.runAsRoot !== undefined && typeof options.runAsRoot !== 'string') throw new DockerToolsError('INVALID_OPTION', `${where}.runAsRoot: must be a script (a string)`);
  return {
    name: options.name,
    ...optional('tag', options.tag),
    ...optional('fromImage', options.fromImage),
    ...optional('fromImageName', options.fromImageName),
    ...optional('fromImageTag', options.fromImageTag),
    copyToRoot: list(options.copyToRoot ?? options.contents),
    usedContents: options.contents !== undefined,
    keepContentsDirlinks: options.keepContentsDirlinks ?? false,
    config: normaliseConfig(options.config, `${where}.config`),
    ...optional('architecture', options.architecture),
    extraCommands: options.extraCommands ?? '',
    uid: whole(options.uid, 0, `${where}.uid`, 0),
    gid: whole(options.gid, 0, `${where}.gid`, 0),
    ...optional('runAsRoot', options.runAsRoot),
    diskSize: whole(options.diskSize, 1024, `${where}.diskSize`, 1),
    buildVMMemorySize: whole(options.buildVMMemorySize, 512, `${where}.buildVMMemorySize`, 1),
    created: resolveDate(options.created, `${where}.created`),
    createdInput: options.created === undefined ? EPOCH_PLUS_ONE : options.created instanceof Date ? options.created.toISOString() : String(options.created),
    includeNixDB: options.includeNixDB ?? false,
    ...optional('referencesGraph', options.referencesGraph),
    ...optional('storeRoot', options.storeRoot),
    ...optional('closureSource', options.closureSource),
    ...optional('closureCache', options.closureCache),
  };
}
