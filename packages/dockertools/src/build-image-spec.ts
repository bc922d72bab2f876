import * as z from 'zod';
import { type BuildImageOptions, resolveBuildImageOptions } from './build-image-options.js';
import { DockerToolsError } from './errors.js';
import { CLOSURE_SOURCES, describeSpecError, type RawSpec } from './spec.js';

const paths = z.union([z.string(), z.array(z.string())]);
const id = z.number().int().nonnegative();
const mib = z.number().int().positive();

/** The spec file of buildImage: nixpkgs' argument names, plus where the closure comes from. */
const BuildImageSpecSchema = z
  .object({
    builder: z.enum(['buildImage', 'buildImageWithNixDb']),
    name: z.string().min(1),
    tag: z.string(),
    fromImage: z.string(),
    fromImageName: z.string(),
    fromImageTag: z.string(),
    copyToRoot: paths,
    contents: paths,
    keepContentsDirlinks: z.boolean(),
    config: z.unknown(),
    architecture: z.string().min(1),
    extraCommands: z.string(),
    uid: id,
    gid: id,
    runAsRoot: z.string(),
    diskSize: mib,
    buildVMMemorySize: mib,
    created: z.union([z.string(), z.number().int().nonnegative()]),
    includeNixDB: z.boolean(),
    referencesGraph: z.string(),
    storeRoot: z.string(),
    closureSource: z.enum(CLOSURE_SOURCES),
  })
  .partial()
  .strict();

/**
 * Validates raw buildImage arguments (a spec file's JSON, flags laid over it) into
 * {@link BuildImageOptions}; `where` names them in messages (`image.json.diskSize: ...`). A
 * `"builder": "buildImageWithNixDb"` key sets includeNixDB, as nixpkgs' function of that name does.
 */
export function parseBuildImageSpec(raw: RawSpec, where = 'spec'): BuildImageOptions {
  const result = BuildImageSpecSchema.safeParse(raw);
  if (!result.success) throw new DockerToolsError('INVALID_OPTION', describeSpecError(result.error, where), { cause: result.error });
  const { builder, ...spec } = result.data;
  if (spec.name === undefined) throw new DockerToolsError('INVALID_OPTION', `${where}.name: required (give --name or "name" in the spec)`);
  const options: BuildImageOptions = { ...spec, name: spec.name, ...(builder === 'buildImageWithNixDb' ? { includeNixDB: true } : {}) };
  // Values are checked now, so messages name the spec file's keys.
  resolveBuildImageOptions(options, where);
  return options;
}
