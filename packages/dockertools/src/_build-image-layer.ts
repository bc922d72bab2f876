import { createHash } from 'node:crypto';
import { lstatSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { type LayerEntry, type LayerPlan, type OwnershipOverride, scanDirectoryLayer, scanLayer, tarSize } from '@strata/layer';
import type { RootTree } from './_build-image-root.js';

/** nixpkgs builds with SOURCE_DATE_EPOCH = 1980-01-01: every entry of a buildImage layer has this mtime. */
export const BUILD_IMAGE_MTIME = 315532800;

/** What goes into the new layer besides the root tree. */
export interface BuildImageLayerInput {
  readonly root: RootTree;
  /** Owner of the root tree's entries (nixpkgs' uid/gid, `tar --owner --group`). */
  readonly uid: number;
  readonly gid: number;
  /** Store paths the layer's closure needs; their files join the layer unless the base image or the root tree has them. */
  readonly storePaths: readonly string[];
  /** Owners, modes and device nodes of particular root-tree paths (what runAsRoot set), over the rest. @default none */
  readonly overrides?: ReadonlyMap<string, OwnershipOverride>;
  /** True for an image path (`/nix/store/x/bin`) the base image already holds. @default none does */
  readonly inBase?: (path: string) => boolean;
  readonly storeRoot?: string;
}

/** The planned layer, and what identifies its content for the default tag. */
export interface BuildImageLayer {
  readonly plan: LayerPlan;
  /** The store paths that had at least one entry added. */
  readonly storePaths: readonly string[];
  /** sha256 of every entry's header (names, types, owners, modes, sizes, links), as `sha256:<hex>`. */
  readonly headersDigest: string;
}

function imagePath(name: string): string {
  // './bin/' -> '/bin', './' -> '/', '/nix/store/' -> '/nix/store'
  const path = name.startsWith('./') ? name.slice(1) : name;
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/** Orders image paths as a sorted pre-order walk does: by components, each compared as bytes. */
export function compareImagePaths(a: string, b: string): number {
  if (a === b) return 0;
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return Buffer.compare(Buffer.from(x[i]!), Buffer.from(y[i]!));
  }
  return x.length - y.length;
}

/** The root tree's entries, named as `tar -C layer -cf - .` names them, with the directory modes copyToRoot gave. */
async function rootEntries(input: BuildImageLayerInput): Promise<LayerEntry[]> {
  const overrides = new Map<string, OwnershipOverride>();
  for (const [path, mode] of input.root.dirModes) {
    const st = await lstat(input.root.dir + (path === '/' ? '' : path)).catch(() => undefined);
    if (!st?.isDirectory()) continue;
    // Kept writable on disk for the scripts; a mode a script set itself is kept as it is.
    const disk = st.mode & 0o7777;
    overrides.set(path, { mode: disk === (mode | 0o700) ? mode : disk });
  }
  for (const [path, override] of input.overrides ?? []) overrides.set(path, override);
  const plan = await scanDirectoryLayer(input.root.dir, { uid: input.uid, gid: input.gid, uname: '', gname: '', mtime: BUILD_IMAGE_MTIME, overrides });
  return [...plan.entries];
}

/**
 * Entries of the store paths that neither the root tree nor the base image has, named `./nix/store/…`,
 * owned by root, with `/nix` and `/nix/store` (mode 0555, as nixpkgs makes them) when needed.
 */
async function storeEntries(input: BuildImageLayerInput, inRoot: ReadonlySet<string>): Promise<{ entries: LayerEntry[]; paths: string[] }> {
  const present = (path: string) => inRoot.has(path) || input.inBase?.(path) === true;
  const sorted = [...new Set(input.storePaths)].sort(compareImagePaths);
  const plan = await scanLayer(sorted, { storeRoot: input.storeRoot ?? '', mtime: BUILD_IMAGE_MTIME, uid: 0, gid: 0, uname: '', gname: '' });
  const [nix, store, ...rest] = plan.entries;
  const entries: LayerEntry[] = [];
  const paths = new Set<string>();
  for (const entry of rest) {
    const path = imagePath(entry.name);
    if (present(path)) continue;
    entries.push({ ...entry, name: `.${entry.name}` });
    paths.add(path.split('/').slice(0, 4).join('/'));
  }
  if (entries.length === 0) return { entries, paths: [] };
  const parents = [nix!, store!].filter((e) => !present(imagePath(e.name))).map((e) => ({ ...e, name: `.${e.name}`, mode: 0o555 }));
  return { entries: [...parents, ...entries], paths: sorted.filter((p) => paths.has(p)) };
}

/** Merges two entry lists that are each in walk order. */
function merge(a: readonly LayerEntry[], b: readonly LayerEntry[]): LayerEntry[] {
  const out: LayerEntry[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    out.push(compareImagePaths(imagePath(a[i]!.name), imagePath(b[j]!.name)) <= 0 ? a[i++]! : b[j++]!);
  }
  return out.concat(a.slice(i), b.slice(j));
}

/** The identity of a file's bytes: the store file a root file was copied from (if unchanged since), else its own inode. */
function identity(entry: LayerEntry, root: RootTree): string {
  const st = lstatSync(entry.source!);
  const copied = root.copies.get(imagePath(entry.name));
  if (copied && copied.ino === st.ino && copied.size === st.size && copied.mtimeMs === st.mtimeMs && copied.ctimeMs === st.ctimeMs) return copied.sourceId;
  return `${st.dev}:${st.ino}`;
}

/**
 * Stores each file once: a later entry with the same bytes (the same source file: a copy of a store
 * file at /, or a store hard link) and the same header fields becomes a hard link to the first.
 * This is what nixpkgs #94636 asks for: copyToRoot files are no longer in the layer twice.
 */
function linkDuplicates(entries: readonly LayerEntry[], root: RootTree): LayerEntry[] {
  const first = new Map<string, string>();
  return entries.map((entry) => {
    if (entry.type !== 'file' || entry.size === 0 || entry.source === undefined) return entry;
    const key = `${identity(entry, root)}|${entry.mode}|${entry.uid}|${entry.gid}|${entry.uname}|${entry.gname}|${entry.mtime}`;
    const earlier = first.get(key);
    if (earlier === undefined) {
      first.set(key, entry.name);
      return entry;
    }
    const { source: _, ...header } = entry;
    return { ...header, type: 'link', size: 0, linkname: earlier };
  });
}

/**
 * Plans buildImage's new layer: the root tree (copyToRoot, extraCommands) named `./…`, plus the
 * files of the store paths it needs that the base image and the root tree do not already hold
 * (nixpkgs diffs the same way, file by file), merged in one sorted walk, every file stored once.
 * Everything is known from `lstat` before a byte is read.
 */
export async function planBuildImageLayer(input: BuildImageLayerInput): Promise<BuildImageLayer> {
  const fromRoot = await rootEntries(input);
  const inRoot = new Set(fromRoot.map((e) => imagePath(e.name)));
  const store = await storeEntries(input, inRoot);
  const entries = linkDuplicates(merge(fromRoot, store.entries), input.root);
  // One entry at a time: a JSON string of every header would be megabytes for a large closure.
  const hash = createHash('sha256');
  for (const { source: _, ...header } of entries) hash.update(`${JSON.stringify(header)}\n`);
  const headersDigest = `sha256:${hash.digest('hex')}`;
  return { plan: { paths: store.paths, entries, size: tarSize(entries) }, storePaths: store.paths, headersDigest };
}
