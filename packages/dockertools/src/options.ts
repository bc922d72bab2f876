import type { ClosureCacheStore, ClosureSource } from '@strata/closure';
import type { CustomisationSpec } from '@strata/customisation';
import type { Image } from '@strata/image';
import { type ContainerConfig, checkImageName, ManifestError, normalizeCreated, parseContainerConfig } from '@strata/manifest';
import { DockerToolsError } from './errors.js';

/** A date as nixpkgs takes it: ISO-8601, `"now"`, seconds since the epoch, or a Date. */
export type DateInput = string | number | Date;

/** Where the image's closure comes from, and how its store is laid out (strata's additions to nixpkgs' arguments). */
export interface ClosureOptions {
  /** A references-graph JSON file (`exportReferencesGraph`) holding the closure. @default none */
  readonly referencesGraph?: string;
  /** A chroot store: image paths stay `/nix/store/...`, bytes come from `storeRoot/nix/store/...`. @default '' (the host's) */
  readonly storeRoot?: string;
  /** @default 'graph' with referencesGraph, else 'nix' when Nix is installed, else 'scan' */
  readonly closureSource?: ClosureSource;
  /**
   * Where live Nix's answers are kept, so building the same contents again does not ask Nix (see
   * `@strata/closure`'s `cache`; `@strata/cache`'s `ClosureCache` keeps them in files). @default none
   */
  readonly closureCache?: ClosureCacheStore;
}

/** How a builder reports and stops. */
export interface RunOptions {
  /** Cancels the build: scripts are stopped, working files removed. @default none */
  readonly signal?: AbortSignal;
  /** Told what the user should know: contents conflicts, what the customisation scripts printed. @default ignored */
  readonly onNotice?: (message: string) => void;
}

/**
 * nixpkgs' `streamLayeredImage` / `buildLayeredImage` arguments (pkgs.dockerTools), with their
 * defaults; only `name` is required.
 */
export interface LayeredImageOptions extends CustomisationSpec, ClosureOptions, RunOptions {
  /** Image name; lower-cased in RepoTags. */
  readonly name: string;
  /** @default the first 32 hex digits of the sha256 of the image's inputs */
  readonly tag?: string;
  /** Store paths (or links into the store, or local directories) joined at `/`; their closures become store layers. @default [] */
  readonly contents?: string | readonly string[];
  /** Docker config (Cmd, Entrypoint, Env, ExposedPorts, User, WorkingDir, ...); `Cmd`/`Entrypoint` may be a string. @default {} */
  readonly config?: unknown;
  /** GOARCH name. @default the host's */
  readonly architecture?: string;
  /** Image creation date. @default '1970-01-01T00:00:01Z' */
  readonly created?: DateInput;
  /** mtime of every file in the store layers. @default '1970-01-01T00:00:01Z' */
  readonly mtime?: DateInput;
  /** @default 0 */
  readonly uid?: number;
  /** @default 0 */
  readonly gid?: number;
  /** @default 'root' */
  readonly uname?: string;
  /** @default 'root' */
  readonly gname?: string;
  /** Total layer budget, base-image layers and the customisation layer included; > 1. @default 100 */
  readonly maxLayers?: number;
  /** false leaves the store layers out (only the customisation layer). @default true */
  readonly includeStorePaths?: boolean;
  /** A base image: a docker-archive file (plain, gz or zstd), or an image value whose layers' diffIDs are known. @default none */
  readonly fromImage?: string | Image;
  /** nixpkgs' layeringPipeline (a JSON value, or a JSON file holding one); maxLayers is then not used. @default auto-layer */
  readonly layeringPipeline?: unknown;
}

/** The options with defaults applied and values checked. */
export interface ResolvedLayeredOptions extends ClosureOptions {
  readonly name: string;
  readonly tag?: string;
  readonly contents: readonly string[];
  readonly config: ContainerConfig;
  readonly architecture?: string;
  readonly created: string;
  /** `created` as given, so "now" does not change the default tag (as in nixpkgs). */
  readonly createdInput: string;
  readonly mtime: number;
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
  readonly maxLayers: number;
  readonly includeStorePaths: boolean;
  readonly fromImage?: string | Image;
  readonly layeringPipeline?: unknown;
  readonly customisation: CustomisationSpec;
}

const EPOCH_PLUS_ONE = '1970-01-01T00:00:01Z';

/** Runs a manifest-level check, reporting its failure as an invalid option. */
export function checked<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof ManifestError) throw new DockerToolsError('INVALID_OPTION', error.message, { cause: error });
    throw error;
  }
}

/** A date option as nixpkgs normalises it (ISO-8601 without fractions, or now). */
export function resolveDate(value: DateInput | undefined, field: string): string {
  const input = typeof value === 'number' ? new Date(value * 1000) : (value ?? EPOCH_PLUS_ONE);
  return checked(() => normalizeCreated(input, field));
}

/** What a tar header holds: 11 octal digits of seconds (2242-03-16T12:56:31Z). */
const MAX_MTIME = 8 ** 11 - 1;
/** Linux ids are 32 bits; (uid_t)-1 means "no change" to chown, so no file can have it. */
const MAX_ID = 2 ** 32 - 2;

function toSeconds(value: DateInput | undefined, field: string): number {
  const seconds = typeof value === 'number' ? value : Math.floor(Date.parse(resolveDate(value, field)) / 1000);
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_MTIME) {
    throw new DockerToolsError('INVALID_OPTION', `${field}: must be from 1970-01-01T00:00:00Z to 2242-03-16T12:56:31Z (0 to ${MAX_MTIME} seconds), what a tar header holds; got ${String(value)}`);
  }
  return seconds;
}

function toId(value: number | undefined, field: string): number {
  const id = value ?? 0;
  if (!Number.isInteger(id) || id < 0 || id > MAX_ID) throw new DockerToolsError('INVALID_OPTION', `${field}: must be a whole number from 0 to ${MAX_ID}, got ${String(value)}`);
  return id;
}

/** The user's config, validated; `Cmd`/`Entrypoint` given as one string become the one-element list Docker reads it as. */
export function normaliseConfig(config: unknown, field: string): ContainerConfig {
  return checked(() => parseContainerConfig(config ?? {}, field));
}

const CUSTOMISATION_KEYS = ['extraCommands', 'fakeRootCommands', 'enableFakechroot', 'includeNixDB', 'binSh', 'usrBinEnv', 'caCertificates', 'fakeNss', 'shadowSetup'] as const;

/** Picks the customisation layer's arguments out of a builder's options. */
export function customisationOf(options: CustomisationSpec): CustomisationSpec {
  return Object.fromEntries(CUSTOMISATION_KEYS.filter((k) => options[k] !== undefined).map((k) => [k, options[k]])) as CustomisationSpec;
}

/** Applies nixpkgs' defaults to streamLayeredImage's options and checks them; `where` names them in messages. */
export function resolveLayeredOptions(options: LayeredImageOptions, where = 'options'): ResolvedLayeredOptions {
  if (typeof options.name !== 'string' || options.name === '') throw new DockerToolsError('INVALID_OPTION', `${where}.name: required`);
  // Checked now, before any work, so a name podman would refuse never reaches an archive.
  checked(() => checkImageName(options.name, `${where}.name`));
  const maxLayers = options.maxLayers ?? 100;
  if (!Number.isInteger(maxLayers) || maxLayers < 2) {
    throw new DockerToolsError('INVALID_OPTION', `${where}.maxLayers: must be greater than 1, got ${maxLayers}`);
  }
  const contents = options.contents === undefined ? [] : typeof options.contents === 'string' ? [options.contents] : [...options.contents];
  return {
    name: options.name,
    ...(options.tag === undefined ? {} : { tag: options.tag }),
    contents,
    config: normaliseConfig(options.config, `${where}.config`),
    ...(options.architecture === undefined ? {} : { architecture: options.architecture }),
    created: resolveDate(options.created, `${where}.created`),
    createdInput: options.created === undefined ? EPOCH_PLUS_ONE : options.created instanceof Date ? options.created.toISOString() : String(options.created),
    mtime: toSeconds(options.mtime, `${where}.mtime`),
    uid: toId(options.uid, `${where}.uid`),
    gid: toId(options.gid, `${where}.gid`),
    uname: options.uname ?? 'root',
    gname: options.gname ?? 'root',
    maxLayers,
    includeStorePaths: options.includeStorePaths ?? true,
    ...(options.fromImage === undefined ? {} : { fromImage: options.fromImage }),
    ...(options.referencesGraph === undefined ? {} : { referencesGraph: options.referencesGraph }),
    ...(options.storeRoot === undefined ? {} : { storeRoot: options.storeRoot }),
    ...(options.closureSource === undefined ? {} : { closureSource: options.closureSource }),
    ...(options.closureCache === undefined ? {} : { closureCache: options.closureCache }),
    ...(options.layeringPipeline === undefined ? {} : { layeringPipeline: options.layeringPipeline }),
    customisation: customisationOf(options),
  };
}
