import { type ClosureSource, collectClosure, resolveRoots, type StorePath } from '@strata/closure';
import { type LayerPlan, packLayer, scanLayer } from '@strata/layer';
import {
  type ArchiveLayer,
  type ArchivedImage,
  createImageConfig,
  type DockerArchiveStream,
  type ImageConfigTemplate,
  imageTag,
  mergeEnv,
  readDockerArchive,
  repoTag,
  writeDockerArchive,
} from '@strata/manifest';
import { planLayers, storeLayerBudget } from '@strata/popularity';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CliError } from '../errors.js';
import { which } from '../which.js';
import { buildCustomisationLayer, type CustomisationLayer } from './customisation.js';
import type { LayeredSpec } from './spec.js';

/** A layered image ready to stream: its name, its layers' sizes, and the archive stream itself. */
export interface LayeredImage {
  readonly repoTag: string;
  /** Exact byte size of each layer, in image order. */
  readonly layerSizes: readonly number[];
  readonly archive: DockerArchiveStream;
  /** The layers the archive streams, each re-openable (what `strata push SPEC` uploads in parallel). */
  readonly layers: readonly ArchiveLayer[];
  /** The config the archive writes, minus the diffIDs it learns from the layers. */
  readonly template: ImageConfigTemplate;
  /** Removes the customisation layer's working directory; call after the archive is written or abandoned. */
  dispose(): Promise<void>;
}

/** Options for {@link prepareLayeredImage}. */
export interface PrepareOptions {
  readonly signal: AbortSignal;
  /** Called when layer `index` (0-based) starts streaming. */
  readonly onLayer?: (index: number) => void;
  /** Told about contents conflicts and what the customisation scripts printed. */
  readonly onNotice?: (message: string) => void;
}

const STORE_REF = /\/nix\/store\/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+/g;

function closureSource(spec: LayeredSpec): ClosureSource {
  if (spec.closureSource) return spec.closureSource;
  if (spec.referencesGraph) return 'graph';
  return which('nix') ? 'nix' : 'scan';
}

async function closureOf(spec: LayeredSpec, roots: readonly string[], signal: AbortSignal): Promise<StorePath[]> {
  if (roots.length === 0) return [];
  return collectClosure(roots, {
    source: closureSource(spec),
    ...(spec.referencesGraph ? { graphFile: spec.referencesGraph } : {}),
    ...(spec.storeRoot ? { storeRoot: spec.storeRoot } : {}),
    signal,
  });
}

function configTemplate(spec: LayeredSpec, base: ArchivedImage | undefined, comments: readonly string[]): ImageConfigTemplate {
  const baseEnv = base?.config.config?.Env ?? [];
  const env = mergeEnv(baseEnv, spec.config.Env ?? []);
  const config = env.length > 0 ? { ...spec.config, Env: env } : spec.config;
  const { rootfs: _, ...template } = createImageConfig(
    comments.map(() => ''),
    { created: spec.created, config, comments, ...(spec.architecture ? { architecture: spec.architecture } : {}) },
  );
  return template;
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
    throw new CliError(`layeringPipeline ${pipeline}: ${(error as Error).message}`);
  }
}

/** The store layers: the closure of the customisation layer's and the config's references, planned as nixpkgs plans it. */
async function planStoreLayers(spec: LayeredSpec, custom: CustomisationLayer, configRefs: readonly string[], baseLayerCount: number, signal: AbortSignal): Promise<string[][]> {
  if (!spec.includeStorePaths) return [];
  const closure = await closureOf(spec, [...new Set([...custom.references, ...configRefs])], signal);
  if (closure.length === 0) return [];
  const graph = [
    ...closure,
    { path: CUSTOMISATION_NODE, narSize: custom.plan.size, references: custom.references },
    { path: BASE_JSON_NODE, narSize: JSON.stringify(spec.config).length, references: configRefs },
  ];
  const ignore = [CUSTOMISATION_NODE, BASE_JSON_NODE];
  if (spec.layeringPipeline !== undefined) return planLayers(graph, { pipeline: await loadPipeline(spec.layeringPipeline), ignore });
  return planLayers(graph, { limit: storeLayerBudget(spec.maxLayers, baseLayerCount), ignore });
}

/**
 * Everything before the first byte: the customisation layer, the closure, the layer plan, every
 * layer's entries and size (from lstat alone) and the base image. Errors about inputs surface here,
 * before any output.
 */
export async function prepareLayeredImage(spec: LayeredSpec, options: PrepareOptions): Promise<LayeredImage> {
  const { signal } = options;
  const storeRoot = spec.storeRoot ? { storeRoot: spec.storeRoot } : {};
  const configRefs = await resolveRoots([...new Set(JSON.stringify(spec.config).match(STORE_REF) ?? [])], storeRoot);
  const base = spec.fromImage ? (await readDockerArchive(spec.fromImage)).images[0] : undefined;
  const baseLayers = base?.layers ?? [];
  if (spec.layeringPipeline === undefined) storeLayerBudget(spec.maxLayers, baseLayers.length); // fails early on too small a budget
  const custom = await buildCustomisationLayer(spec.contents, spec.customisation, {
    ...storeRoot,
    signal,
    closureOf: (roots) => closureOf(spec, roots, signal),
    ...(options.onNotice ? { onNotice: options.onNotice } : {}),
  });
  try {
    return await assemble(spec, options, { custom, configRefs, base });
  } catch (error) {
    await custom.dispose();
    throw error;
  }
}

async function assemble(
  spec: LayeredSpec,
  options: PrepareOptions,
  parts: { custom: CustomisationLayer; configRefs: readonly string[]; base: ArchivedImage | undefined },
): Promise<LayeredImage> {
  const { signal } = options;
  const { custom, base } = parts;
  const baseLayers = base?.layers ?? [];
  const storeLayers = await planStoreLayers(spec, custom, parts.configRefs, baseLayers.length, signal);
  const owner = { mtime: spec.mtime, uid: spec.uid, gid: spec.gid, uname: spec.uname, gname: spec.gname, ...(spec.storeRoot ? { storeRoot: spec.storeRoot } : {}) };
  const plans: LayerPlan[] = [];
  for (const paths of storeLayers) plans.push(await scanLayer(paths, owner));
  plans.push(custom.plan); // the customisation layer is always last, as in nixpkgs
  // The default tag must change with anything the scripts or local contents put in the last layer,
  // so it hashes that layer's bytes; with a tag given, the layer is read only once, when written.
  const tag =
    spec.tag ??
    imageTag({
      ...spec,
      // nixpkgs hashes the literal "now" (its tag is the conf derivation's hash), so the tag is stable.
      created: spec.createdInput === 'now' ? 'now' : spec.created,
      storeLayers,
      customisationLayer: await digestOf(packLayer(custom.plan, { signal })),
      base: base?.configDigest ?? null,
      tool: 'strata-layered-2',
    });
  const comments = [
    ...baseLayers.map((l) => `base image layer ${l.path}`),
    ...storeLayers.map((paths) => `store paths: ${JSON.stringify(paths)}`),
    `customisation layer: ${JSON.stringify(custom.storeContents)}`,
  ];
  const sources: ArchiveLayer[] = [...baseLayers, ...plans.map((plan) => ({ size: plan.size, open: () => packLayer(plan, { signal }) }))];
  const layers = sources.map((layer, index): ArchiveLayer => ({
    size: layer.size,
    ...(layer.diffId ? { diffId: layer.diffId } : {}),
    open: () => {
      options.onLayer?.(index);
      return layer.open();
    },
  }));
  const name = repoTag(spec.name, tag);
  const template = configTemplate(spec, base, comments);
  const archive = writeDockerArchive(layers, template, { repoTags: [name], mtime: spec.mtime, signal });
  return { repoTag: name, layerSizes: layers.map((l) => l.size), archive, layers, template, dispose: custom.dispose };
}

async function digestOf(stream: AsyncIterable<Buffer>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk);
  return hash.digest('hex');
}
