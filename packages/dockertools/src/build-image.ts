import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveRoots, scanTree } from '@strata/closure';
import { runCustomisationScripts, writeNixDb } from '@strata/customisation';
import { createLayer, type Image, listImagePaths, readImage } from '@strata/image';
import { type OwnershipOverride, packLayer } from '@strata/layer';
import { imageTag } from '@strata/manifest';
import { type BuiltImage, builtImage, imageTemplate } from './_built-image.js';
import { buildImageLayerKey } from './_cache-key.js';
import { baseEnvOf, baseIdentity, closureOf, configReferences } from './_inputs.js';
import { BUILD_IMAGE_MTIME, type BuildImageLayer, planBuildImageLayer } from './_build-image-layer.js';
import { copyToRoot, removeTree, type RootItem, type RootTree, resolveRootItems } from './_build-image-root.js';
import { type BuildImageOptions, type ResolvedBuildImageOptions, resolveBuildImageOptions } from './build-image-options.js';

function signalOf(options: BuildImageOptions): { signal?: AbortSignal } {
  return options.signal ? { signal: options.signal } : {};
}

/** How messages name the base image: its file, when it came from one. */
function baseName(o: ResolvedBuildImageOptions): string {
  return typeof o.fromImage === 'string' ? o.fromImage : 'fromImage';
}

async function openBase(o: ResolvedBuildImageOptions): Promise<Image | undefined> {
  if (o.fromImage === undefined) return undefined;
  if (typeof o.fromImage !== 'string') return o.fromImage;
  return readImage(o.fromImage, { ...(o.fromImageName === undefined ? {} : { name: o.fromImageName }), ...(o.fromImageTag === undefined ? {} : { tag: o.fromImageTag }) });
}

/** The Nix database (includeNixDB) and extraCommands, run in the new layer's directory as nixpkgs runs them: last. */
async function finishRootTree(o: ResolvedBuildImageOptions, items: readonly RootItem[], root: RootTree, options: BuildImageOptions): Promise<void> {
  const { signal } = options;
  const store = items.flatMap((item) => (item.storePath ? [item.storePath] : []));
  // nixpkgs registers the closure of copyToRoot, with a gcroot per item, before extraCommands.
  if (o.includeNixDB && store.length > 0) await writeNixDb(root.dir, await closureOf(o, store, signal), { gcRoots: store });
  if (o.extraCommands) {
    const scripts = await runCustomisationScripts(root.dir, { extraCommands: o.extraCommands, ...(signal ? { signal } : {}) });
    if (scripts.output) options.onNotice?.(scripts.output.trimEnd());
  }
}

/** What the new layer holds before its store paths: the root tree, the owners runAsRoot set, and the base's paths. */
interface NewLayer {
  readonly root: RootTree;
  readonly overrides?: ReadonlyMap<string, OwnershipOverride>;
  readonly inBase?: (path: string) => boolean;
}

/**
 * copyToRoot, then, with runAsRoot, the script's changes over the base image; then the Nix database
 * and extraCommands. Without runAsRoot, the base image's paths come from reading its layers' headers.
 */
async function newLayer(o: ResolvedBuildImageOptions, items: readonly RootItem[], base: Image | undefined, work: string, options: BuildImageOptions): Promise<NewLayer> {
  const root = await copyToRoot(items, join(work, 'layer'), { keepContentsDirlinks: o.keepContentsDirlinks, ...(o.storeRoot ? { storeRoot: o.storeRoot } : {}), ...signalOf(options) });
  if (o.runAsRoot !== undefined) {
    // Loaded on use: the VM runner is memory (and start-up time) a pure build does not need.
    const { runAsRootLayer } = await import('./_build-image-run-as-root.js');
    const ran = await runAsRootLayer(o, root, { work, base, ...signalOf(options), ...(options.onNotice ? { onNotice: options.onNotice } : {}), ...(options.vm ? { vm: options.vm } : {}) });
    await finishRootTree(o, items, root, options);
    const entries = ran.base?.entries;
    return { root, overrides: ran.overrides, ...(entries ? { inBase: (path: string) => entries.has(path) } : {}) };
  }
  await finishRootTree(o, items, root, options);
  // nixpkgs lists every path of the base layers; the flattened tree is what the container sees.
  const entries = base ? (await listImagePaths(base, { ...signalOf(options), name: baseName(o) })).entries : undefined;
  return { root, ...(entries ? { inBase: (path: string) => entries.has(path) } : {}) };
}

/**
 * nixpkgs' `buildImage`: the base image's layers (if any) and ONE new layer holding the contents
 * of copyToRoot at `/` (extraCommands run in it, owners from uid/gid) plus the store paths its
 * files, links and config refer to, with their closure, that the base image does not already hold.
 * A file both at `/` and in the store is stored once, as a hard link (nixpkgs #94636). The image is
 * lazy: the layer's entries and size are known here, no store file is read until a sink pulls.
 * Call `dispose()` when done, to remove the layer's working directory.
 * @example
 * const image = await buildImage({ name: 'bash', tag: 'latest', copyToRoot: ['./result'], config: { Cmd: ['/bin/bash'] } });
 * try {
 *   await saveImage(image, 'bash.tar.gz');
 * } finally {
 *   await image.dispose();
 * }
 */
export async function buildImage(options: BuildImageOptions): Promise<BuiltImage> {
  const o = resolveBuildImageOptions(options);
  const key = o.usedContents ? 'contents' : 'copyToRoot';
  if (o.usedContents) options.onNotice?.('buildImage: contents is deprecated; use copyToRoot (the same: the items are copied to /)');
  const base = await openBase(o);
  const work = await mkdtemp(join(tmpdir(), 'strata-build-image-'));
  try {
    const items = await resolveRootItems(o.copyToRoot, o.storeRoot, key);
    const made = await newLayer(o, items, base, work, options);
    const { root } = made;
    const storeRoot = o.storeRoot ? { storeRoot: o.storeRoot } : {};
    const scan = await scanTree(root.dir, { ...storeRoot, ...(options.signal ? { signal: options.signal } : {}) });
    const configRefs = await resolveRoots(configReferences(o.config), storeRoot);
    const closure = await closureOf(o, [...new Set([...scan.references, ...configRefs])], options.signal);
    // With runAsRoot the owners come from the VM, as in nixpkgs: uid and gid apply to the pure layer.
    const owner = o.runAsRoot === undefined ? { uid: o.uid, gid: o.gid } : { uid: 0, gid: 0 };
    const layer = await planBuildImageLayer({
      root,
      ...owner,
      storePaths: closure.map((p) => p.path),
      ...(made.overrides ? { overrides: made.overrides } : {}),
      ...(made.inBase ? { inBase: made.inBase } : {}),
      ...storeRoot,
    });
    // Hashes every entry of the plan: computed only if a cache asks for it.
    const cacheKey = () => buildImageLayerKey(layer.plan, new Map(closure.map((p) => [p.path, p])), scan.narHash);
    return assemble(o, { base, layer, items, narHash: scan.narHash, cacheKey, work }, options.signal);
  } catch (error) {
    await removeTree(work);
    await base?.dispose();
    throw error;
  }
}

interface Parts {
  readonly base: Image | undefined;
  readonly layer: BuildImageLayer;
  readonly items: readonly RootItem[];
  /** NAR hash of the root tree: its files' content, which the layer's headers do not show. */
  readonly narHash: string;
  /** What identifies the layer's bytes for strata's layer cache. */
  readonly cacheKey: () => string;
  readonly work: string;
}

function assemble(o: ResolvedBuildImageOptions, parts: Parts, signal: AbortSignal | undefined): BuiltImage {
  const { base, layer } = parts;
  const baseLayers = base?.layers ?? [];
  const own = createLayer({
    size: layer.plan.size,
    get cacheKey() {
      return parts.cacheKey();
    },
    open: () => packLayer(layer.plan, signal ? { signal } : {}),
  });
  const comments = [
    ...baseLayers.map((_, i) => `base image layer ${i + 1}`),
    `copyToRoot: ${JSON.stringify(parts.items.map((i) => i.storePath ?? i.given))}; store paths: ${JSON.stringify(layer.storePaths)}`,
  ];
  // nixpkgs appends the config's Env to the base image's; merged by name here, which is what the
  // container sees either way (the last value of a variable wins).
  const template = imageTemplate({ ...o, baseEnv: base ? baseEnvOf(base) : [], comments });
  const tag =
    o.tag ??
    imageTag({
      name: o.name,
      config: template.config,
      architecture: template.architecture,
      // nixpkgs hashes the literal "now" (its tag is the output's hash), so the tag is stable.
      created: o.createdInput === 'now' ? 'now' : o.created,
      root: parts.narHash,
      layer: layer.headersDigest,
      base: base ? baseIdentity(base) : null,
      tool: 'strata-build-image-1',
    });
  const dispose = async () => {
    await removeTree(parts.work);
    await base?.dispose();
  };
  return builtImage({ name: o.name, tag, template, layers: [...baseLayers, own], mtime: BUILD_IMAGE_MTIME, dispose });
}

/**
 * nixpkgs' `buildImageWithNixDb`: {@link buildImage} with `includeNixDB`, so Nix inside the image
 * knows the store paths of copyToRoot's closure (`nix-store -qR` works).
 */
export function buildImageWithNixDb(options: BuildImageOptions): Promise<BuiltImage> {
  return buildImage({ ...options, includeNixDB: true });
}
