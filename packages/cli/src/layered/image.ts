import { type ClosureSource, collectClosure, resolveRoots, type StorePath } from '@strata/closure';
import { type LayerPlan, packLayer, scanContentsLayer, scanLayer } from '@strata/layer';
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
import { which } from '../which.js';
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
}

/** Options for {@link prepareLayeredImage}. */
export interface PrepareOptions {
  readonly signal: AbortSignal;
  /** Called when layer `index` (0-based) starts streaming. */
  readonly onLayer?: (index: number) => void;
}

const STORE_REF = /\/nix\/store\/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+/g;

function closureSource(spec: LayeredSpec): ClosureSource {
  if (spec.closureSource) return spec.closureSource;
  if (spec.referencesGraph) return 'graph';
  return which('nix') ? 'nix' : 'scan';
}

async function storeClosure(spec: LayeredSpec, roots: readonly string[], signal: AbortSignal): Promise<StorePath[]> {
  if (!spec.includeStorePaths || roots.length === 0) return [];
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

/**
 * Everything before the first byte: the closure, the layer plan, every layer's entries and size
 * (from lstat alone) and the base image. Errors about inputs surface here, before any output.
 */
export async function prepareLayeredImage(spec: LayeredSpec, options: PrepareOptions): Promise<LayeredImage> {
  const { signal } = options;
  const storeRoot = spec.storeRoot ? { storeRoot: spec.storeRoot } : {};
  const contents = await resolveRoots(spec.contents, storeRoot);
  const configRefs = [...new Set(JSON.stringify(spec.config).match(STORE_REF) ?? [])];
  const roots = [...new Set([...contents, ...(await resolveRoots(configRefs, storeRoot))])];
  const base = spec.fromImage ? (await readDockerArchive(spec.fromImage)).images[0] : undefined;
  const baseLayers = base?.layers ?? [];
  const budget = storeLayerBudget(spec.maxLayers, baseLayers.length);
  const closure = await storeClosure(spec, roots, signal);
  const storeLayers = closure.length === 0 ? [] : planLayers(closure, { limit: budget });
  const owner = { mtime: spec.mtime, uid: spec.uid, gid: spec.gid, uname: spec.uname, gname: spec.gname, ...storeRoot };
  const plans: LayerPlan[] = [];
  for (const paths of storeLayers) plans.push(await scanLayer(paths, owner));
  if (contents.length > 0) plans.push(await scanContentsLayer(contents, owner));
  const tag = spec.tag ?? imageTag({ ...spec, contents, storeLayers, base: base?.configDigest ?? null, tool: 'strata-layered-1' });
  const comments = [
    ...baseLayers.map((l) => `base image layer ${l.path}`),
    ...storeLayers.map((paths) => `store paths: ${JSON.stringify(paths)}`),
    ...(contents.length > 0 ? [`contents: ${JSON.stringify(contents)}`] : []),
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
  return { repoTag: name, layerSizes: layers.map((l) => l.size), archive, layers, template };
}
