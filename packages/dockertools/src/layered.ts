import { readFile } from 'node:fs/promises';
import { resolveRoots } from '@strata/closure';
import { buildCustomisationLayer, type CustomisationLayer } from '@strata/customisation';
import { createLayer, type Image, type Layer, readImage, type SavedImage, saveImage, type Compressor } from '@strata/image';
import { packLayer } from '@strata/layer';
import { createImageConfig, type ImageConfigTemplate, imageConfigBytes, imageTag, mergeEnv, repoTag } from '@strata/manifest';
import { planLayers, storeLayerBudget } from '@strata/popularity';
import { type GeneratedStore, scanStoreLayer } from './_generated-store.js';
import { baseIdentity, closureOf, configReferences } from './_inputs.js';
import { DockerToolsError } from './errors.js';
import { checked, type LayeredImageOptions, type ResolvedLayeredOptions, resolveLayeredOptions } from './options.js';

/** A built image with nixpkgs' passthru names: what it is called and tagged. */
export interface BuiltImage extends Image {
  /** The name as given (nixpkgs' `imageName`). */
  readonly imageName: string;
  /** The tag, given or derived from the inputs (nixpkgs' `imageTag`). */
  readonly imageTag: string;
}

// Stand-ins for nixpkgs' two excluded roots (the customisation layer and the base JSON): like
// nixpkgs, the planner sees them, they take part in the split, and they are removed at the end.
const CUSTOMISATION_NODE = '/nix/store/00000000000000000000000000000000-customisation-layer';
const BASE_JSON_NODE = '/nix/store/00000000000000000000000000000000-base.json';

async function loadPipeline(pipeline: unknown): Promise<unknown> {
  if (typeof pipeline !== 'string') return pipeline;
  try {
    return JSON.parse(await readFile(pipeline, 'utf8'));
  } catch (error) {
    throw new DockerToolsError('INVALID_OPTION', `layeringPipeline ${pipeline}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * What a builder made on streamLayeredImage adds to nixpkgs' arguments (the nix-shell image does):
 * the config's store references as Nix's string context would give them, and store objects that
 * are not in the store.
 */
export interface LayeredExtras {
  /**
   * The config's references, instead of the store paths its text names (nixpkgs' nix-shell image
   * names the derivation's own outputs in Env without their context: they are not in the image).
   * They may include generated paths. @default the store paths the config names
   */
  readonly configReferences?: readonly string[];
  /** Store objects written outside the store, planned into store layers with the closure. @default none */
  readonly generated?: GeneratedStore;
}

/** The store layers: the closure of the customisation layer's and the config's references, planned as nixpkgs plans it. */
async function planStoreLayers(
  o: ResolvedLayeredOptions,
  custom: CustomisationLayer,
  configRefs: readonly string[],
  baseLayerCount: number,
  extras: LayeredExtras,
  signal?: AbortSignal,
): Promise<string[][]> {
  if (!o.includeStorePaths) return [];
  const generated = extras.generated?.paths ?? [];
  const own = new Set(generated.map((g) => g.path));
  // Generated objects are not in the store: the closure is the real one of everything they and the
  // image refer to, plus their own records.
  const roots = [...new Set([...custom.references, ...configRefs, ...generated.flatMap((g) => g.references)])].filter((p) => !own.has(p));
  const closure = [...(await closureOf(o, roots, signal)), ...generated];
  if (closure.length === 0) return [];
  const graph = [
    ...closure,
    { path: CUSTOMISATION_NODE, narSize: custom.plan.size, references: custom.references },
    { path: BASE_JSON_NODE, narSize: JSON.stringify(o.config).length, references: configRefs },
  ];
  const ignore = [CUSTOMISATION_NODE, BASE_JSON_NODE];
  if (o.layeringPipeline !== undefined) return planLayers(graph, { pipeline: await loadPipeline(o.layeringPipeline), ignore });
  return planLayers(graph, { limit: storeLayerBudget(o.maxLayers, baseLayerCount), ignore });
}

function configTemplate(o: ResolvedLayeredOptions, baseEnv: readonly string[], comments: readonly string[]): ImageConfigTemplate {
  const env = mergeEnv(baseEnv, o.config.Env ?? []);
  const config = env.length > 0 ? { ...o.config, Env: env } : o.config;
  const { rootfs: _, ...template } = createImageConfig(
    comments.map(() => ''),
    { created: o.created, config, comments, ...(o.architecture ? { architecture: o.architecture } : {}) },
  );
  return template;
}

async function openBase(fromImage: ResolvedLayeredOptions['fromImage']): Promise<Image | undefined> {
  if (fromImage === undefined) return undefined;
  return typeof fromImage === 'string' ? readImage(fromImage) : fromImage;
}

/**
 * nixpkgs' `streamLayeredImage`: the image as a lazy value, ready for a sink (docker-archive,
 * registry push). Everything before the first byte happens here: the customisation layer (contents
 * joined at /, helpers, scripts), the closure, the layer plan, every layer's entries and exact size
 * (from lstat alone) and the base image's index; errors about inputs surface here, before any
 * output. Call `dispose()` when done, to remove the customisation layer's working directory.
 * @example
 * const image = await streamLayeredImage({ name: 'hello', contents: ['./result'], config: { Cmd: ['/bin/hello'] } });
 * try {
 *   await pipeline(writeDockerArchive(image), process.stdout);
 * } finally {
 *   await image.dispose();
 * }
 */
export function streamLayeredImage(options: LayeredImageOptions): Promise<BuiltImage> {
  return streamLayered(options, {});
}

/** {@link streamLayeredImage} with what another builder adds (see {@link LayeredExtras}). */
export async function streamLayered(options: LayeredImageOptions, extras: LayeredExtras): Promise<BuiltImage> {
  const o = resolveLayeredOptions(options);
  const { signal } = options;
  const storeRoot = o.storeRoot ? { storeRoot: o.storeRoot } : {};
  const configRefs = extras.configReferences ?? (await resolveRoots(configReferences(o.config), storeRoot));
  const base = await openBase(o.fromImage);
  if (o.layeringPipeline === undefined) storeLayerBudget(o.maxLayers, base?.layers.length ?? 0); // fails early on too small a budget
  const custom = await buildCustomisationLayer(o.contents, o.customisation, {
    ...storeRoot,
    ...(signal ? { signal } : {}),
    closureOf: (roots) => closureOf(o, roots, signal),
    ...(options.onNotice ? { onNotice: options.onNotice } : {}),
  });
  try {
    return await assemble(o, options, { custom, configRefs, base, extras });
  } catch (error) {
    await custom.dispose();
    throw error;
  }
}

async function assemble(
  o: ResolvedLayeredOptions,
  options: LayeredImageOptions,
  parts: { custom: CustomisationLayer; configRefs: readonly string[]; base: Image | undefined; extras: LayeredExtras },
): Promise<BuiltImage> {
  const { custom, base, extras } = parts;
  const signal = options.signal;
  const baseLayers = base?.layers ?? [];
  const storeLayers = await planStoreLayers(o, custom, parts.configRefs, baseLayers.length, extras, signal);
  const owner = { mtime: o.mtime, uid: o.uid, gid: o.gid, uname: o.uname, gname: o.gname, ...(o.storeRoot ? { storeRoot: o.storeRoot } : {}) };
  const plans = [];
  for (const paths of storeLayers) plans.push(await scanStoreLayer(paths, owner, extras.generated));
  plans.push(custom.plan); // the customisation layer is always last, as in nixpkgs
  const own = plans.map((plan) => createLayer({ size: plan.size, open: () => packLayer(plan, signal ? { signal } : {}) }));
  const tag =
    o.tag ??
    imageTag({
      ...o,
      contents: o.contents,
      fromImage: undefined,
      // nixpkgs hashes the literal "now" (its tag is the conf derivation's hash), so the tag is stable.
      created: o.createdInput === 'now' ? 'now' : o.created,
      createdInput: undefined,
      storeLayers,
      customisationLayer: custom.contentDigest,
      base: base ? baseIdentity(base) : null,
      tool: 'strata-layered-3',
    });
  const comments = [
    ...baseLayers.map((_, i) => `base image layer ${i + 1}`),
    ...storeLayers.map((paths) => `store paths: ${JSON.stringify(paths)}`),
    `customisation layer: ${JSON.stringify(custom.storeContents)}`,
  ];
  const baseEnv = base ? baseEnvOf(base) : [];
  const template = configTemplate(o, baseEnv, comments);
  const layers: Layer[] = [...baseLayers, ...own];
  let disposed = false;
  return {
    imageName: o.name,
    imageTag: tag,
    repoTags: [checked(() => repoTag(o.name, tag))],
    platform: { os: 'linux', architecture: template.architecture },
    layers,
    mtime: o.mtime,
    config: (diffIds) => imageConfigBytes(template, diffIds),
    dispose: async () => {
      if (disposed) return;
      disposed = true;
      await custom.dispose();
      await base?.dispose();
    },
  };
}

/** The base image's Env, from its config (all its diffIDs are known: it was read from a file or a registry). */
function baseEnvOf(base: Image): readonly string[] {
  const config = JSON.parse(base.config(base.layers.map((l) => l.diffId ?? '')).toString('utf8')) as { config?: { Env?: unknown } | null };
  const env = config.config?.Env;
  return Array.isArray(env) ? env.filter((e): e is string => typeof e === 'string') : [];
}

/** Options for {@link buildLayeredImage}: streamLayeredImage's, plus the file to write and nixpkgs' `compressor`. */
export interface BuildLayeredImageOptions extends LayeredImageOptions {
  /** The image file to write, atomically. */
  readonly output: string;
  /** Whole-archive compression. @default 'gz' */
  readonly compressor?: Compressor;
}

/**
 * nixpkgs' `buildLayeredImage`: {@link streamLayeredImage} written to a file, compressed as a whole
 * (`gz` by default, `zstd` or `none`), atomically.
 * @example await buildLayeredImage({ name: 'hello', contents: ['./result'], output: 'hello.tar.gz' });
 */
export async function buildLayeredImage(options: BuildLayeredImageOptions): Promise<SavedImage & { readonly imageTag: string }> {
  return saveBuiltImage(await streamLayeredImage(options), options);
}

/** Writes a built image to `options.output` (compressed, `gz` by default), atomically, and disposes of it. */
export async function saveBuiltImage(
  image: BuiltImage,
  options: { readonly output: string; readonly compressor?: Compressor; readonly signal?: AbortSignal },
): Promise<SavedImage & { readonly imageTag: string }> {
  try {
    const saved = await saveImage(image, options.output, { compressor: options.compressor ?? 'gz', ...(options.signal ? { signal: options.signal } : {}) });
    return { ...saved, imageTag: image.imageTag };
  } finally {
    await image.dispose();
  }
}
