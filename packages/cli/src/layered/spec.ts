import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type ContainerConfig, ManifestError, normalizeCreated, parseContainerConfig } from '@strata/manifest';
import { z } from 'zod';
import { CliError } from '../errors.js';
import type { CustomisationSpec } from './customisation.js';

const CLOSURE_SOURCES = ['nix', 'nix-store', 'graph', 'registration', 'scan'] as const;
const helperTarget = z.union([z.boolean(), z.string().min(1)]);

const time = z.union([z.string(), z.number().int().nonnegative()]);
const id = z.number().int().nonnegative();

/** The spec file (`--spec image.json`): nixpkgs' streamLayeredImage argument names, plus where the closure comes from. */
const SpecSchema = z
  .object({
    name: z.string().min(1),
    tag: z.string(),
    contents: z.union([z.string(), z.array(z.string())]),
    config: z.unknown(),
    architecture: z.string().min(1),
    created: time,
    mtime: time,
    uid: id,
    gid: id,
    uname: z.string(),
    gname: z.string(),
    maxLayers: z.number().int(),
    includeStorePaths: z.boolean(),
    fromImage: z.string(),
    referencesGraph: z.string(),
    storeRoot: z.string(),
    closureSource: z.enum(CLOSURE_SOURCES),
    layeringPipeline: z.union([z.array(z.unknown()), z.string().min(1)]),
    extraCommands: z.string(),
    fakeRootCommands: z.string(),
    enableFakechroot: z.boolean(),
    includeNixDB: z.boolean(),
    binSh: helperTarget,
    usrBinEnv: helperTarget,
    caCertificates: helperTarget,
    fakeNss: z.union([z.boolean(), z.object({ extraPasswdLines: z.array(z.string()), extraGroupLines: z.array(z.string()) }).partial().strict()]),
    shadowSetup: z.boolean(),
  })
  .partial()
  .strict();

/** Everything a layered image is built from, validated, with defaults applied and paths absolute. */
export interface LayeredSpec {
  readonly name: string;
  readonly tag?: string;
  readonly contents: readonly string[];
  readonly config: ContainerConfig;
  readonly architecture?: string;
  readonly created: string;
  /** `created` as the user gave it, so "now" does not change the default tag (as in nixpkgs). */
  readonly createdInput?: string | number;
  /** Seconds since the epoch. */
  readonly mtime: number;
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
  readonly maxLayers: number;
  readonly includeStorePaths: boolean;
  readonly fromImage?: string;
  readonly referencesGraph?: string;
  readonly storeRoot?: string;
  readonly closureSource?: (typeof CLOSURE_SOURCES)[number];
  /** nixpkgs' layeringPipeline: a JSON pipeline, or a JSON file holding one; maxLayers is then not used. */
  readonly layeringPipeline?: unknown;
  /** The customisation layer's arguments (extraCommands, fakeRootCommands, helpers, ...). */
  readonly customisation: CustomisationSpec;
}

/** Raw values before validation: the spec file's keys, overridden by flags. */
export type RawSpec = Record<string, unknown>;

function describe(error: z.ZodError, where: string): string {
  const issue = error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const at = [where, ...issue.path.map(String)].join('.');
    return `${at}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  }
  return `${[where, ...issue.path.map(String)].join('.')}: ${issue.message}`;
}

function toSeconds(value: string | number, field: string): number {
  if (typeof value === 'number') return value;
  return Math.floor(Date.parse(guard(() => normalizeCreated(value, field))) / 1000);
}

function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof ManifestError) throw new CliError(error.message);
    throw error;
  }
}

/** Reads a spec file; relative paths in it are taken from the file's directory. */
export async function readSpecFile(file: string): Promise<RawSpec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new CliError(`--spec ${file}: cannot read: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CliError(`--spec ${file}: not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CliError(`--spec ${file}: expected a JSON object`);
  const base = dirname(resolve(file));
  const raw: RawSpec = { ...(value as RawSpec) };
  for (const key of ['fromImage', 'referencesGraph', 'storeRoot', 'layeringPipeline', 'caCertificates'] as const) {
    if (typeof raw[key] === 'string') raw[key] = resolve(base, raw[key] as string);
  }
  // contents may name links such as ./result, or local directories, next to the spec.
  const at = (p: unknown) => (typeof p === 'string' && !p.startsWith('/') ? resolve(base, p) : p);
  if (Array.isArray(raw.contents)) raw.contents = raw.contents.map(at);
  else raw.contents = at(raw.contents);
  return raw;
}

/** Validates the merged raw spec (`where` names it in messages) and applies nixpkgs' defaults. */
export function parseSpec(raw: RawSpec, where = 'spec'): LayeredSpec {
  const result = SpecSchema.safeParse(raw);
  if (!result.success) throw new CliError(describe(result.error, where));
  const s = result.data;
  if (s.name === undefined) throw new CliError(`${where}.name: required (give --name or "name" in the spec)`);
  const maxLayers = s.maxLayers ?? 100;
  if (maxLayers < 2) throw new CliError(`${where}.maxLayers: must be greater than 1, got ${maxLayers}`);
  const contents = s.contents === undefined ? [] : typeof s.contents === 'string' ? [s.contents] : s.contents;
  return {
    name: s.name,
    ...(s.tag === undefined ? {} : { tag: s.tag }),
    contents,
    config: guard(() => parseContainerConfig(s.config ?? {}, `${where}.config`)),
    ...(s.architecture === undefined ? {} : { architecture: s.architecture }),
    created: guard(() => normalizeCreated(typeof s.created === 'number' ? new Date(s.created * 1000) : s.created, `${where}.created`)),
    ...(s.created === undefined ? {} : { createdInput: s.created }),
    mtime: toSeconds(s.mtime ?? '1970-01-01T00:00:01Z', `${where}.mtime`),
    uid: s.uid ?? 0,
    gid: s.gid ?? 0,
    uname: s.uname ?? 'root',
    gname: s.gname ?? 'root',
    maxLayers,
    includeStorePaths: s.includeStorePaths ?? true,
    ...(s.fromImage === undefined ? {} : { fromImage: s.fromImage }),
    ...(s.referencesGraph === undefined ? {} : { referencesGraph: s.referencesGraph }),
    ...(s.storeRoot === undefined ? {} : { storeRoot: s.storeRoot }),
    ...(s.closureSource === undefined ? {} : { closureSource: s.closureSource }),
    ...(s.layeringPipeline === undefined ? {} : { layeringPipeline: s.layeringPipeline }),
    customisation: {
      ...pick(s, ['extraCommands', 'fakeRootCommands', 'enableFakechroot', 'includeNixDB', 'binSh', 'usrBinEnv', 'caCertificates', 'shadowSetup']),
      ...(s.fakeNss === undefined ? {} : { fakeNss: s.fakeNss }),
    },
  };
}

function pick<T extends object, K extends keyof T>(value: T, keys: readonly K[]): Partial<Pick<T, K>> {
  return Object.fromEntries(keys.filter((k) => value[k] !== undefined).map((k) => [k, value[k]])) as Partial<Pick<T, K>>;
}
