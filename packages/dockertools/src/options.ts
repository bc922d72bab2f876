import type { ClosureSource } from '@strata/closure';
import type { CustomisationSpec } from '@strata/customisation';
import type { Image } from '@strata/image';
import { type ContainerConfig, ManifestError, normalizeCreated, parseContainerConfig } from '@strata/manifest';
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

function toSeconds(value: DateInput | undefined, field: string): number {
  if (typeof value === 'number') return value;
  return Math.floor(Date.parse(resolveDate(value, field)) / 1000);
}

/** nixpkgs accepts `Cmd`/`Entrypoint` as one string (Docker runs it with `/bin/sh -c`'s rules); strata passes the config on as given. */
function normaliseConfig(config: unknown, field: string): ContainerConfig {
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
    uid: options.uid ?? 0,
    gid: options.gid ?? 0,
    uname: options.uname ?? 'root',
    gname: options.gname ?? 'root',
    maxLayers,
    includeStorePaths: options.includeStorePaths ?? true,
    ...(options.fromImage === undefined ? {} : { fromImage: options.fromImage }),
    ...(options.referencesGraph === undefined ? {} : { referencesGraph: options.referencesGraph }),
    ...(options.storeRoot === undefined ? {} : { storeRoot: options.storeRoot }),
    ...(options.closureSource === undefined ? {} : { closureSource: options.closureSource }),
    ...(options.layeringPipeline === undefined ? {} : { layeringPipeline: options.layeringPipeline }),
    customisation: customisationOf(options),
  };
}
