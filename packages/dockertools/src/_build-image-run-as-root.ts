import { lstat, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type Image, type ImageTree, unpackImage } from '@strata/image';
import type { OwnershipOverride } from '@strata/layer';
import { type PathOwnership, type RootChange, runAsRoot, VmDiskFullError, VmTimeoutError } from '@strata/vm';
import { overlayOnto } from './_build-image-overlay.js';
import type { RootTree } from './_build-image-root.js';
import type { ResolvedBuildImageOptions, VmSettings } from './build-image-options.js';
import { DockerToolsError } from './errors.js';

/** What the runAsRoot script left for the new layer. */
export interface RunAsRootLayer {
  /** Owners, modes and device nodes of the layer's paths, by image path (the VM's, and the base image's for untouched parents). */
  readonly overrides: ReadonlyMap<string, OwnershipOverride>;
  /** The base image's flattened filesystem, when there is a base. */
  readonly base: ImageTree | undefined;
}

/** Where the run happens, and what it may say. */
export interface RunAsRootContext {
  readonly work: string;
  readonly base: Image | undefined;
  readonly signal?: AbortSignal;
  readonly onNotice?: (message: string) => void;
  readonly vm?: VmSettings;
}

const STORE = '/nix/store';

/** nixpkgs runs the script with `set -e` (its first line may be a `#!` line, which stays first). */
function wrapScript(script: string): string {
  if (!script.startsWith('#!')) return `set -e\n${script}`;
  const newline = script.indexOf('\n');
  return newline === -1 ? `${script}\nset -e\n` : `${script.slice(0, newline + 1)}set -e\n${script.slice(newline + 1)}`;
}

function toOwnership(entry: { uid: number; gid: number; mode: number; device?: PathOwnership['device'] }): PathOwnership {
  return { uid: entry.uid, gid: entry.gid, mode: entry.mode, ...(entry.device ? { device: entry.device } : {}) };
}

function isAtOrBelow(path: string, top: string): boolean {
  return path === top || path.startsWith(`${top}/`);
}

/**
 * How the VM must show the merged filesystem: the base image's owners and modes (an unprivileged
 * unpack could not set them on disk), except where copyToRoot put its own paths (root-owned, the
 * modes rsync gave them), as nixpkgs' overlay shows its upper directory over the base layers.
 */
function mergedOwnership(base: ImageTree | undefined, layer: RootTree, overlaid: { removed: readonly string[]; placed: readonly string[] }): Map<string, PathOwnership> {
  const map = new Map<string, PathOwnership>();
  for (const [path, entry] of base?.entries ?? []) {
    if (!overlaid.removed.some((top) => isAtOrBelow(path, top))) map.set(path, toOwnership(entry));
  }
  for (const path of overlaid.placed) map.delete(path);
  for (const [path, mode] of layer.dirModes) {
    if (path !== '/' || overlaid.placed.length > 0) map.set(path, { uid: 0, gid: 0, mode });
  }
  return map;
}

function scriptOutput(stdout: Buffer, stderr: Buffer): string {
  return `${stdout.toString('utf8')}${stderr.toString('utf8')}`.trimEnd();
}

/**
 * Runs the runAsRoot script as nixpkgs does: as root, over the base image's layers unpacked in order
 * with copyToRoot on top (whiteouts and opaque directories honoured, a repeated base layer applied
 * once), in a VM (KVM when it works, TCG otherwise), the host's store at /nix/store. Then makes
 * `layer` (copyToRoot's directory) hold exactly the new layer: what the script added or changed,
 * with the owners and modes it set, a `.wh.NAME` for each base path it deleted, and an empty /tmp
 * (mode 1777) when the image has none, as nixpkgs gives runAsRoot images one.
 */
export async function runAsRootLayer(o: ResolvedBuildImageOptions, layer: RootTree, ctx: RunAsRootContext): Promise<RunAsRootLayer> {
  const rootfs = join(ctx.work, 'rootfs');
  const output = join(ctx.work, 'changes');
  const signal = ctx.signal ? { signal: ctx.signal } : {};
  const base = ctx.base ? await unpackImage(ctx.base, rootfs, { ...signal, name: typeof o.fromImage === 'string' ? o.fromImage : 'fromImage' }) : undefined;
  if (!base) await mkdir(rootfs);
  const overlaid = await overlayOnto(layer.dir, rootfs);
  const ownership = mergedOwnership(base, layer, overlaid);
  const result = await runAsRoot(rootfs, wrapScript(o.runAsRoot!), {
    ...ctx.vm,
    ...signal,
    mounts: [{ host: join(o.storeRoot ?? '', STORE), guest: STORE }],
    ownership,
    diskSize: o.diskSize,
    buildVMMemorySize: o.buildVMMemorySize,
    outputDir: output,
  }).catch((error: unknown) => {
    // What the script printed before it was stopped is what explains it.
    if (error instanceof VmTimeoutError || error instanceof VmDiskFullError) {
      const printed = scriptOutput(error.stdout, error.stderr);
      if (printed) ctx.onNotice?.(`runAsRoot printed:\n${printed}`);
    }
    throw error;
  });
  const printed = scriptOutput(result.stdout, result.stderr);
  if (result.exitCode !== 0) {
    const tail = printed.length > 4000 ? `…${printed.slice(-4000)}` : printed;
    throw new DockerToolsError('SCRIPT_FAILED', `runAsRoot failed (exit ${result.exitCode})${tail ? `:\n${tail}` : ''}`);
  }
  if (printed) ctx.onNotice?.(printed);
  // The unpacked base is the largest thing on disk: gone before the layer is packed.
  await rm(rootfs, { recursive: true, force: true });
  const overrides = await applyChanges(layer, output, result.changes, { base, ownership });
  await addTmp(layer, base, overrides);
  return { overrides, base };
}

interface Views {
  readonly base: ImageTree | undefined;
  /** How the VM saw each path before the script: parents the layer needs keep these owners. */
  readonly ownership: ReadonlyMap<string, PathOwnership>;
}

/** Makes the directories above `path` in the layer, each with the owner and mode the image had for it. */
async function parents(layer: RootTree, path: string, views: Views, overrides: Map<string, OwnershipOverride>): Promise<void> {
  const missing: string[] = [];
  for (let dir = dirname(path); dir !== '/'; dir = dirname(dir)) {
    if (await lstat(layer.dir + dir).catch(() => undefined)) break;
    missing.unshift(dir);
  }
  for (const dir of missing) {
    await mkdir(layer.dir + dir, { mode: 0o755 });
    const seen = views.ownership.get(dir);
    overrides.set(dir, seen ? { uid: seen.uid ?? 0, gid: seen.gid ?? 0, ...(seen.mode === undefined ? {} : { mode: seen.mode }) } : { uid: 0, gid: 0 });
  }
}

function changeOverride(change: RootChange): OwnershipOverride {
  const base = { uid: change.uid, gid: change.gid, mode: change.mode };
  if (change.type === 'fifo') return { ...base, device: { type: 'fifo', major: 0, minor: 0 } };
  if ((change.type === 'char' || change.type === 'block') && change.rdev) return { ...base, device: { type: change.type, ...change.rdev } };
  return base;
}

/** Turns the VM's change list (and the changed files it kept in `output`) into the layer's content. */
async function applyChanges(layer: RootTree, output: string, changes: readonly RootChange[], views: Views): Promise<Map<string, OwnershipOverride>> {
  const overrides = new Map<string, OwnershipOverride>();
  for (const change of changes) {
    const at = layer.dir + change.path;
    if (change.change === 'deleted') {
      await rm(at, { recursive: true, force: true });
      // A path only copyToRoot had is simply gone; one of the base image needs a whiteout to hide it.
      if (views.base?.entries.has(change.path)) {
        await parents(layer, change.path, views, overrides);
        await writeFile(join(dirname(at), `.wh.${basename(at)}`), '', { mode: 0o644 });
      }
      continue;
    }
    if (change.path !== '/') await parents(layer, change.path, views, overrides);
    overrides.set(change.path, changeOverride(change));
    if (change.type === 'directory') {
      const existing = await lstat(at).catch(() => undefined);
      if (change.opaque || (existing && !existing.isDirectory())) await rm(at, { recursive: true, force: true });
      await mkdir(at, { recursive: true, mode: 0o755 });
      // Removed and made again: nothing of the base image's directory may show through.
      if (change.opaque && views.base?.entries.has(change.path)) await writeFile(join(at, '.wh..wh..opq'), '', { mode: 0o644 });
      continue;
    }
    await rm(at, { recursive: true, force: true });
    await rename(output + change.path, at);
  }
  return overrides;
}

/** nixpkgs leaves the /tmp it mounts in runAsRoot images; strata gives it the mode /tmp should have. */
async function addTmp(layer: RootTree, base: ImageTree | undefined, overrides: Map<string, OwnershipOverride>): Promise<void> {
  if (base?.entries.has('/tmp') || (await lstat(join(layer.dir, 'tmp')).catch(() => undefined))) return;
  await mkdir(join(layer.dir, 'tmp'), { mode: 0o755 });
  overrides.set('/tmp', { uid: 0, gid: 0, mode: 0o1777 });
}
