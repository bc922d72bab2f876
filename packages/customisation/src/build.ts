import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { ClosureError, resolveRoots, type StorePath, scanTree } from '@strata/closure';
import { LayerError, type LayerPlan, type OwnershipOverride, scanDirectoryLayer } from '@strata/layer';
import { joinContents } from './contents.js';
import { applyHelpers, type ImageHelpers, shadowSetupScript } from './helpers.js';
import { writeNixDb } from './nix-db.js';
import { runCustomisationScripts } from './scripts.js';

/** nixpkgs' customisation-layer arguments, as the spec names them. */
export interface CustomisationSpec extends ImageHelpers {
  readonly extraCommands?: string;
  readonly fakeRootCommands?: string;
  readonly enableFakechroot?: boolean;
  readonly includeNixDB?: boolean;
  readonly shadowSetup?: boolean;
}

/** The finished customisation layer: its plan, the store paths it refers to, and its working directory. */
export interface CustomisationLayer {
  readonly plan: LayerPlan;
  /** Store paths the layer's files and links refer to (they join the image closure). */
  readonly references: readonly string[];
  /** The contents items that are store paths, resolved (`./result` → `/nix/store/...`). */
  readonly storeContents: readonly string[];
  /**
   * Identifies the layer's bytes without packing it: the sha256 of its tree's NAR hash (contents,
   * names, links) and of every entry's header (owners, modes, device numbers), as `sha256:<hex>`.
   * Computed while scanning for references, so it costs no extra read.
   */
  readonly contentDigest: string;
  /** Removes the working directory; call once the layer has been written. */
  dispose(): Promise<void>;
}

/** Options for {@link buildCustomisationLayer}. */
export interface BuildCustomisationOptions {
  readonly storeRoot?: string;
  /** Stops the scripts and removes the working directory. @default none */
  readonly signal?: AbortSignal;
  /** The closure of the store contents, for includeNixDB. */
  readonly closureOf: (roots: readonly string[]) => Promise<StorePath[]>;
  /** Says what the user should know: conflicts in contents, script output. */
  readonly onNotice?: (message: string) => void;
}

/** Splits contents into store paths (links followed) and local directories, keeping their order. */
async function resolveContents(contents: readonly string[], storeRoot: string | undefined): Promise<{ items: string[]; store: string[] }> {
  const items: string[] = [];
  const store: string[] = [];
  for (const item of contents) {
    try {
      const [path] = await resolveRoots([item], storeRoot ? { storeRoot } : {});
      items.push(path!);
      store.push(path!);
    } catch (error) {
      // A local directory (not in the store) is allowed, as in nixpkgs' layered-image-with-path.
      const isDir = await stat(item).then((s) => s.isDirectory(), () => false);
      if (!(error instanceof ClosureError && error.code === 'OUTSIDE_STORE' && isDir)) throw error;
      items.push(item);
    }
  }
  return { items, store };
}

function toOverrides(ownership: Awaited<ReturnType<typeof runCustomisationScripts>>['ownership']): Map<string, OwnershipOverride> {
  return new Map([...ownership].map(([path, o]) => [path, { uid: o.uid, gid: o.gid, mode: o.mode, ...(o.device ? { device: o.device } : {}) }]));
}

/**
 * Builds nixpkgs' customisation layer in a working directory: the symlinkJoin of contents, the
 * helpers, the Nix database (includeNixDB), then extraCommands and fakeRootCommands (shadowSetup
 * first), and plans it as nixpkgs packs it. The finished directory is scanned for store references,
 * so paths that only the scripts' output refers to join the image.
 */
export async function buildCustomisationLayer(contents: readonly string[], spec: CustomisationSpec, options: BuildCustomisationOptions): Promise<CustomisationLayer> {
  const work = await mkdtemp(join(tmpdir(), 'strata-customisation-'));
  const dispose = () => rm(work, { recursive: true, force: true });
  try {
    const root = join(work, 'layer');
    const storeRoot = options.storeRoot ? { storeRoot: options.storeRoot } : {};
    const { items, store } = await resolveContents(contents, options.storeRoot);
    for (const c of await joinContents(items, root, storeRoot)) {
      options.onNotice?.(`contents conflict: ${c.path} is in both ${c.kept} and ${c.skipped}; keeping the first (${c.kept}), as nixpkgs' symlinkJoin does`);
    }
    for (const notice of await applyHelpers(root, spec, { contents: items, ...storeRoot })) options.onNotice?.(notice);
    if (spec.includeNixDB && store.length > 0) await writeNixDb(root, await options.closureOf(store), { gcRoots: store });
    const fakeRootCommands = [spec.shadowSetup ? shadowSetupScript() : '', spec.fakeRootCommands ?? ''].filter(Boolean).join('\n');
    const scripts = await runCustomisationScripts(root, {
      ...(spec.extraCommands ? { extraCommands: spec.extraCommands } : {}),
      ...(fakeRootCommands ? { fakeRootCommands } : {}),
      enableFakechroot: spec.enableFakechroot ?? false,
      ...storeRoot,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (scripts.output) options.onNotice?.(scripts.output.trimEnd());
    const plan = await scanDirectoryLayer(root, { overrides: toOverrides(scripts.ownership) }).catch((error: unknown) => {
      // Name the path as it would be in the image, not in strata's working directory.
      if (error instanceof LayerError) throw new LayerError(error.code, error.message.replaceAll(`${root}/`, '/'), { cause: error });
      throw error;
    });
    const scan = await scanTree(root, { ...storeRoot, ...(options.signal ? { signal: options.signal } : {}) });
    const headers = plan.entries.map(({ source: _, ...header }) => header);
    const contentDigest = `sha256:${createHash('sha256').update(JSON.stringify({ nar: scan.narHash, headers })).digest('hex')}`;
    return { plan, references: scan.references, storeContents: store, contentDigest, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}
