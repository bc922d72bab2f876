import { dirname, resolve } from 'node:path';
import { readInputText } from '@strata/closure';
import * as z from 'zod';
import { DockerToolsError } from './errors.js';
import { type LayeredImageOptions, resolveLayeredOptions } from './options.js';

/** The closure sources a spec may name. */
export const CLOSURE_SOURCES = ['nix', 'nix-store', 'graph', 'registration', 'scan'] as const;
const helperTarget = z.union([z.boolean(), z.string().min(1)]);
const time = z.union([z.string(), z.number().int().nonnegative()]);
const id = z.number().int().nonnegative();

/** The spec file of the layered builders: nixpkgs' streamLayeredImage argument names, plus where the closure comes from. */
const LayeredSpecSchema = z
  .object({
    builder: z.enum(['streamLayeredImage', 'buildLayeredImage', 'buildLayeredImageWithNixDb']),
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

/** Spec keys that name files: relative values are taken from the spec file's directory. */
export const SPEC_PATH_KEYS = ['fromImage', 'referencesGraph', 'storeRoot', 'layeringPipeline', 'caCertificates'] as const;

/** Raw values before validation: a spec file's keys, perhaps overridden by command-line flags. */
export type RawSpec = Record<string, unknown>;

/** Describes the first zod issue as `where.path: message`, naming unknown keys. */
export function describeSpecError(error: z.ZodError, where: string): string {
  const issue = error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const at = [where, ...issue.path.map(String)].join('.');
    return `${at}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  }
  return `${[where, ...issue.path.map(String)].join('.')}: ${issue.message}`;
}

/**
 * Reads a spec file (a JSON object of builder arguments). Relative file names in it (`contents`
 * items, `fromImage`, `referencesGraph`, ...) are taken from the file's directory.
 */
export async function readSpecFile(file: string, pathKeys: readonly string[] = SPEC_PATH_KEYS): Promise<RawSpec> {
  let text: string;
  try {
    text = await readInputText(file);
  } catch (error) {
    throw new DockerToolsError('INVALID_SPEC', `${file}: cannot read: ${(error as Error).message}`, { cause: error });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new DockerToolsError('INVALID_SPEC', `${file}: not JSON: ${(error as Error).message}`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new DockerToolsError('INVALID_SPEC', `${file}: expected a JSON object`);
  const base = dirname(resolve(file));
  const raw: RawSpec = { ...(value as RawSpec) };
  for (const key of pathKeys) {
    if (typeof raw[key] === 'string') raw[key] = resolve(base, raw[key] as string);
  }
  return resolveContentsPaths(raw, base);
}

/** `contents` (and `copyToRoot`) may name links such as ./result, or local directories, next to the spec. */
export function resolveContentsPaths(raw: RawSpec, base: string, keys: readonly string[] = ['contents', 'copyToRoot']): RawSpec {
  const at = (p: unknown) => (typeof p === 'string' && !p.startsWith('/') ? resolve(base, p) : p);
  const out = { ...raw };
  for (const key of keys) {
    if (Array.isArray(out[key])) out[key] = (out[key] as unknown[]).map(at);
    else if (out[key] !== undefined) out[key] = at(out[key]);
  }
  return out;
}

/** The nixpkgs builder a spec's optional `"builder"` key names, and the kind of image each makes. */
export const SPEC_BUILDERS = {
  streamLayeredImage: 'layered',
  buildLayeredImage: 'layered',
  buildLayeredImageWithNixDb: 'layered',
  buildImage: 'image',
  buildImageWithNixDb: 'image',
} as const;

/** Keys only buildImage takes: a spec holding one without a `"builder"` key is most likely a buildImage spec. */
const BUILD_IMAGE_KEYS = ['copyToRoot', 'runAsRoot', 'keepContentsDirlinks', 'fromImageName', 'fromImageTag', 'diskSize', 'buildVMMemorySize'];

/**
 * Which kind of builder a spec is for: its `"builder"` key (`streamLayeredImage`,
 * `buildLayeredImage`, `buildLayeredImageWithNixDb`, `buildImage`, `buildImageWithNixDb`), else
 * `fallback`. A spec without the key that holds buildImage-only keys while `fallback` is layered is
 * refused with a message saying which key to add, so `strata push` never guesses.
 */
export function specBuilder(raw: RawSpec, where: string, fallback: 'layered' | 'image' = 'layered'): 'layered' | 'image' {
  const builder = raw.builder;
  if (builder === undefined) {
    const own = fallback === 'layered' ? BUILD_IMAGE_KEYS.find((k) => raw[k] !== undefined) : undefined;
    if (own !== undefined) {
      throw new DockerToolsError('INVALID_OPTION', `${where}: "${own}" is a buildImage key; add "builder": "buildImage" (a spec without "builder" is a streamLayeredImage spec)`);
    }
    return fallback;
  }
  if (typeof builder === 'string' && Object.hasOwn(SPEC_BUILDERS, builder)) return SPEC_BUILDERS[builder as keyof typeof SPEC_BUILDERS];
  throw new DockerToolsError('INVALID_OPTION', `${where}.builder: expected one of ${Object.keys(SPEC_BUILDERS).join(', ')}, got ${JSON.stringify(builder)}`);
}

/**
 * Validates raw layered-builder arguments (a spec file's JSON, flags laid over it) into
 * {@link LayeredImageOptions}; `where` names them in messages (`image.json.maxLayers: ...`).
 */
export function parseLayeredSpec(raw: RawSpec, where = 'spec'): LayeredImageOptions {
  const result = LayeredSpecSchema.safeParse(raw);
  if (!result.success) throw new DockerToolsError('INVALID_OPTION', describeSpecError(result.error, where), { cause: result.error });
  const { builder, ...spec } = result.data;
  if (spec.name === undefined) throw new DockerToolsError('INVALID_OPTION', `${where}.name: required (give --name or "name" in the spec)`);
  const options = { ...spec, name: spec.name, ...(builder === 'buildLayeredImageWithNixDb' ? { includeNixDB: true } : {}) };
  // Values are checked now, so messages name the spec file's keys.
  resolveLayeredOptions(options, where);
  return options;
}
