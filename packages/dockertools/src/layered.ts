import { readInputText, resolveRoots, type StorePath } from '@strata/closure';
import { buildCustomisationLayer, type CustomisationLayer } from '@strata/customisation';
import { type Compressor, createLayer, type Image, type Layer, readImage, type SavedImage, type SaveImageOptions, saveImage } from '@strata/image';
import { type LayerPlan, packLayer, scanLayerSync } from '@strata/layer';
import { imageTag } from '@strata/manifest';
import { PipelineError, planLayers, storeLayerBudget } from '@strata/popularity';
import { customisationLayerKey, registeredLayerKey, storeLayerKey } from './_cache-key.js';
import { type GeneratedStore, scanStoreLayer } from './_generated-store.js';
import { type BuiltImage, builtImage, imageTemplate } from './_built-image.js';
import { baseEnvOf, baseIdentity, closureIsRegistered, closureOf, configReferences } from './_inputs.js';
import { DockerToolsError } from './errors.js';
import { type LayeredImageOptions, type ResolvedLayeredOptions, resolveLayeredOptions } from './options.js';

export type { BuiltImage } from './_built-image.js';

// Stand-ins for nixpkgs' two excluded roots (the customisation layer and the base JSON): like
// nixpkgs, the planner sees them, they take part in the split, and they are removed at the end.
const CUSTOMISATION_NODE = '/nix/store/00000000000000000000000000000000-customisation-layer';
const BASE_JSON_NODE = '/nix/store/00000000000000000000000000000000-base.json';

async function loadPipeline(pipeline: unknown): Promise<unknown> {
  if (typeof pipeline !== 'string') return pipeline;
  try {
    return JSON.parse(await readInputText(pipeline));
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
): Promise<{ layers: string[][]; closure: Map<string, StorePath> }> {
  if (!o.includeStorePaths) return { layers: [], closure: new Map() };
  const generated = extras.generated?.paths ?? [];
  const own = new Set(generated.map((g) => g.path));
  // Generated objects are not in the store: the closure is the real one of everything they and the
  // image refer to, plus their own records.
  const roots = [...new Set([...custom.references, ...configRefs, ...generated.flatMap((g) => g.references)])].filter((p) => !own.has(p));
  const closure = [...(await closureOf(o, roots, signal)), ...generated];
  const byPath = new Map(closure.map((p) => [p.path, p]));
  // With no store paths there is nothing to plan, but a given pipeline is still checked (on the
  // stand-ins alone), so a bad one never passes unnoticed.
  if (closure.length === 0 && o.layeringPipeline === undefined) return { layers: [], closure: byPath };
  const graph = [
    ...closure,
    { path: CUSTOMISATION_NODE, narSize: custom.plan.size, references: custom.references },
    { path: BASE_JSON_NODE, narSize: JSON.stringify(o.config).length, references: configRefs },
  ];
  const ignore = [CUSTOMISATION_NODE, BASE_JSON_NODE];
  if (o.layeringPipeline !== undefined) {
    const pipeline = await loadPipeline(o.layeringPipeline);
    try {
      return { layers: planLayers(graph, { pipeline, ignore }), closure: byPath };
    } catch (error) {
      // Name the option (and its file): the planner only knows the step's place in the pipeline.
      if (!(error instanceof PipelineError)) throw error;
      const where = typeof o.layeringPipeline === 'string' ? `layeringPipeline ${o.layeringPipeline}` : 'layeringPipeline';
      throw new DockerToolsError('INVALID_OPTION', `${where}: ${error.message}`, { cause: error });
    }
  }
  return { layers: planLayers(graph, { limit: storeLayerBudget(o.maxLayers, baseLayerCount), ignore }), closure: byPath };
}

async function openBase(fromImage: ResolvedLayeredOptions['fromImage'], signal: AbortSignal | undefined): Promise<Image | undefined> {
  if (fromImage === undefined) return undefined;
  return typeof fromImage === 'string' ? readImage(fromImage, signal ? { signal } : {}) : fromImage;
}

/**
 * nixpkgs' `streamLayeredImage`: the image as a lazy value, ready for a sink (docker-archive,
 * registry push). Everything before the first byte happens here: the customisation layer (contents
 * joined at /, helpers, scripts), the closure, the layer plan, every layer's entries and exact size
 * (from lstat alone) and the base image's index; errors about inputs surface here, before any
 * output. The one exception: with a closure from live Nix, whose paths Nix keeps canonical, a store
 * layer's entries are listed when a sink first asks for its size or bytes (every archive sink asks
 * for all sizes before its first byte; a push whose layer cache knows a layer never asks). Call
 * `dispose()` when done, to remove the customisation layer's working directory.
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
  const base = await openBase(o.fromImage, signal);
  let custom: CustomisationLayer | undefined;
  try {
    if (o.layeringPipeline === undefined) storeLayerBudget(o.maxLayers, base?.layers.length ?? 0); // fails early on too small a budget
    custom = await buildCustomisationLayer(o.contents, o.customisation, {
      ...storeRoot,
      ...(signal ? { signal } : {}),
      closureOf: (roots) => closureOf(o, roots, signal),
      ...(options.onNotice ? { onNotice: options.onNotice } : {}),
    });
    return await assemble(o, options, { custom, configRefs, base, extras });
  } catch (error) {
    await custom?.dispose();
    // A base read here holds a decompressed copy of a compressed archive: release it. An image
    // passed in stays its caller's.
    if (typeof o.fromImage === 'string') await base?.dispose();
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
  const { layers: storeLayers, closure } = await planStoreLayers(o, custom, parts.configRefs, baseLayers.length, extras, signal);
  const owner = { mtime: o.mtime, uid: o.uid, gid: o.gid, uname: o.uname, gname: o.gname, ...(o.storeRoot ? { storeRoot: o.storeRoot } : {}) };
  // A store layer's key hashes every entry of its plan (0.1 s on a closure of 20k files): it is
  // worked out only if a cache asks for it.
  const pack = (plan: LayerPlan, cacheKey: () => string) =>
    createLayer({
      size: plan.size,
      get cacheKey() {
        return cacheKey();
      },
      open: () => packLayer(plan, signal ? { signal } : {}),
    });
  const registered = closureIsRegistered(o);
  const generated = new Set(extras.generated?.paths.map((p) => p.path));
  const own: Layer[] = [];
  for (const paths of storeLayers) {
    // Generated objects are not in the Nix database: their layers are planned now and keyed by their entries.
    const key = registered && !paths.some((p) => generated.has(p)) ? registeredLayerKey(paths, closure, owner) : undefined;
    if (key) {
      // Planned when first needed: a push whose cache knows this layer never lstats its files.
      own.push(lazyLayer(() => pack(scanLayerSync(paths, owner), () => key), key));
      continue;
    }
    const plan = await scanStoreLayer(paths, owner, extras.generated);
    own.push(pack(plan, () => storeLayerKey(plan, closure)));
  }
  own.push(pack(custom.plan, () => customisationLayerKey(custom.contentDigest))); // the customisation layer is always last, as in nixpkgs
  const tag =
    o.tag ??
    imageTag({
      ...o,
      contents: o.contents,
      fromImage: undefined,
      // Where answers are cached is not an input.
      closureCache: undefined,
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
  const template = imageTemplate({ ...o, baseEnv: base ? baseEnvOf(base) : [], comments });
  const dispose = async () => {
    await custom.dispose();
    await base?.dispose();
  };
  return builtImage({ name: o.name, tag, template, layers: [...baseLayers, ...own], mtime: o.mtime, dispose });
}

/** A layer made by `make` when its size, digests or bytes are first asked for; its cache key is known at once. */
function lazyLayer(make: () => Layer, cacheKey: string): Layer {
  let layer: Layer | undefined;
  const made = () => {
    layer ??= make();
    return layer;
  };
  return {
    get size() {
      return made().size;
    },
    compression: 'none',
    cacheKey,
    get diffId() {
      return layer?.diffId;
    },
    get digest() {
      return layer?.digest;
    },
    open: () => made().open(),
  };
}

/** Options for {@link buildLayeredImage}: streamLayeredImage's, plus the file to write, its format and compression. */
export interface BuildLayeredImageOptions extends LayeredImageOptions, Pick<SaveImageOptions, 'format' | 'compression' | 'level' | 'cache' | 'onCacheError'> {
  /** The image file (or, for format `oci`, directory) to write, atomically. */
  readonly output: string;
  /** Whole-archive compression of a docker-archive. @default 'gz' for a docker-archive */
  readonly compressor?: Compressor;
}

/**
 * nixpkgs' `buildLayeredImage`: {@link streamLayeredImage} written to a file, atomically: a
 * docker-archive compressed as a whole (`gz` by default, `zstd` or `none`), or an OCI archive or
 * layout with each layer compressed as `compression` says.
 * @example await buildLayeredImage({ name: 'hello', contents: ['./result'], output: 'hello.tar.gz' });
 */
export async function buildLayeredImage(options: BuildLayeredImageOptions): Promise<SavedImage & { readonly imageTag: string }> {
  return saveBuiltImage(await streamLayeredImage(options), options);
}

/** Where and how a builder writes its image: the output, its format and compression. */
export type SaveBuiltOptions = Pick<BuildLayeredImageOptions, 'output' | 'compressor' | 'format' | 'compression' | 'level' | 'cache' | 'onCacheError' | 'signal'>;

/** Writes a built image to `options.output` (a docker-archive compressed `gz` by default, or OCI), atomically, and disposes of it. */
export async function saveBuiltImage(image: BuiltImage, options: SaveBuiltOptions): Promise<SavedImage & { readonly imageTag: string }> {
  try {
    const format = options.format ?? 'docker-archive';
    const saved = await saveImage(image, options.output, {
      format,
      ...(format === 'docker-archive' ? { compressor: options.compressor ?? 'gz' } : options.compressor ? { compressor: options.compressor } : {}),
      ...(options.compression ? { compression: options.compression } : {}),
      ...(options.level === undefined ? {} : { level: options.level }),
      ...(options.cache ? { cache: options.cache } : {}),
      ...(options.onCacheError ? { onCacheError: options.onCacheError } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return { ...saved, imageTag: image.imageTag };
  } finally {
    await image.dispose();
  }
}
