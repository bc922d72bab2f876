import { accessSync, constants, lstatSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { type LayerEntry, PlannedEntries, type RareFields } from './_entries.js';
import { splitDevice } from './device.js';
import { readdirNames, readlinkName } from './names.js';
import { LayerError, toLayerError } from './errors.js';
import type { TarHeader } from './tar-entry.js';

export type { LayerEntry } from './_entries.js';

/** Owner fields written on entries. */
export interface Ownership {
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
}

/** A per-path change to what an entry records: any of owner ids, owner names and permission bits. */
export interface OwnershipOverride extends Partial<Ownership> {
  /** Permission bits including setuid/setgid/sticky. */
  readonly mode?: number;
  /** Makes the entry a device node or fifo (fakeroot's faked mknod leaves a plain file on disk). */
  readonly device?: { readonly type: 'char' | 'block' | 'fifo'; readonly major: number; readonly minor: number };
}

/** Everything known about a layer before any file is read: the entries in order and the exact tar size. */
export interface LayerPlan {
  /** The store paths the layer holds, in the order they are written. */
  readonly paths: readonly string[];
  readonly entries: readonly LayerEntry[];
  /** Exact byte length of the layer tar. */
  readonly size: number;
}

/** Options for {@link scanLayer}. */
export interface ScanLayerOptions {
  /** A chroot store: image paths stay `/nix/store/...`, bytes are read from `storeRoot + path`. @default '' (the host's root) */
  readonly storeRoot?: string;
  /** The store directory every path must be directly inside. @default '/nix/store' */
  readonly storeDir?: string;
  /** mtime of every entry, as a Date or seconds since the epoch. @default 1 (1970-01-01T00:00:01Z) */
  readonly mtime?: Date | number;
  /** @default 0 */
  readonly uid?: number;
  /** @default 0 */
  readonly gid?: number;
  /** @default 'root' */
  readonly uname?: string;
  /** @default 'root' */
  readonly gname?: string;
  /**
   * Per-path overrides keyed by absolute image path without a trailing slash (`/nix/store/x-foo/bin`),
   * applied after the defaults. @default none
   */
  readonly overrides?: ReadonlyMap<string, OwnershipOverride> | Readonly<Record<string, OwnershipOverride>>;
}

interface WalkContext {
  readonly root: string;
  readonly overrides: ReadonlyMap<string, OwnershipOverride>;
  readonly out: PlannedEntries;
  /** The real uid (a syscall each time it is asked). */
  readonly uid: number | undefined;
}

const kPlanned = Symbol.for('strata.layer.plannedEntries');

/**
 * A plan's entries in order, one at a time: for a plan scanned here, rebuilt from its compact form
 * without building (and keeping) the `entries` array, whose ~400 bytes an entry a closure of 100k
 * files would hold until the plan is gone. Use it to go through a plan once (packLayer, cache keys).
 * @example
 * for (const entry of plannedEntries(scanLayerSync(paths))) hash.update(entry.name);
 */
export function plannedEntries(plan: LayerPlan): Iterable<LayerEntry> {
  return (plan as { [kPlanned]?: PlannedEntries })[kPlanned] ?? plan.entries;
}

/** A plan whose `entries` array is built only if someone asks for it. */
function planOf(paths: readonly string[], planned: PlannedEntries): LayerPlan {
  let entries: LayerEntry[] | undefined;
  return {
    paths,
    size: planned.tarSize,
    get entries() {
      entries ??= [...planned];
      return entries;
    },
    [kPlanned]: planned,
  } as LayerPlan;
}

/**
 * Runs a synchronous fs call, turning its failure into a LayerError naming `path`. Metadata is
 * almost always cached: a sync call costs microseconds, a thread-pool round trip far more.
 */
function fsCall<T>(path: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw toLayerError(error, path);
  }
}

/** Byte order of the UTF-8 names (nixpkgs sorts bytes); for ASCII that is plain string order. */
function sortNames(names: string[]): string[] {
  if (names.every((name) => Buffer.byteLength(name) === name.length)) return names.sort();
  const bytes = new Map(names.map((name) => [name, Buffer.from(name)]));
  return names.sort((a, b) => Buffer.compare(bytes.get(a)!, bytes.get(b)!));
}

function toSeconds(mtime: Date | number | undefined): number {
  if (mtime === undefined) return 1;
  const seconds = typeof mtime === 'number' ? mtime : Math.floor(mtime.getTime() / 1000);
  // 8^11-1 is what a tar header's 11 octal digits hold (2242-03-16).
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > 8 ** 11 - 1) {
    throw new LayerError('INVALID_OPTION', `layer: mtime must be a whole number of seconds from 0 to 8589934591 (2242-03-16), got ${String(mtime)}`);
  }
  return seconds;
}

const DEVICE_TYPES = { char: 'character-device', block: 'block-device', fifo: 'fifo' } as const;

/**
 * Whether access(R_OK) could fail for a regular file with these stat fields: never for root (it
 * reads any file), nor for the file's owner when the owner may read (ACLs do not apply to the
 * owner). Skipping the syscall then saves one per file; a closure has tens of thousands.
 */
function mayBeUnreadable(st: Stats, uid: number | undefined): boolean {
  return !(uid === 0 || (uid === st.uid && (st.mode & 0o400) !== 0));
}

/** Adds the entry at `path` (depth and last component as the walk knows them), with the overrides applied. */
function addEntry(ctx: WalkContext, path: string, depth: number, base: string, type: TarHeader['type'], mode: number, size: number, rare?: RareFields): boolean {
  const o = ctx.overrides.size === 0 ? undefined : ctx.overrides.get(path || '/');
  if (o === undefined) {
    ctx.out.push(path, depth, base, type, mode, size, rare);
    return type === 'file';
  }
  const owner: RareFields = {
    ...(o.uid === undefined ? {} : { uid: o.uid }),
    ...(o.gid === undefined ? {} : { gid: o.gid }),
    ...(o.uname === undefined ? {} : { uname: o.uname }),
    ...(o.gname === undefined ? {} : { gname: o.gname }),
  };
  if (o.device) {
    // A faked device node (fakeroot's mknod on a plain file) has no content to read.
    const device = { devmajor: o.device.major, devminor: o.device.minor };
    ctx.out.push(path, depth, base, DEVICE_TYPES[o.device.type], o.mode ?? mode, 0, { ...rare, ...owner, ...device });
    return false;
  }
  ctx.out.push(path, depth, base, type, o.mode ?? mode, size, { ...rare, ...owner });
  return type === 'file';
}

function addFromStat(ctx: WalkContext, path: string, depth: number, base: string, st: Stats): void {
  const disk = ctx.root + path;
  const mode = st.mode & 0o7777;
  if (st.isDirectory()) addEntry(ctx, path, depth, base, 'directory', mode, 0);
  else if (st.isSymbolicLink()) addEntry(ctx, path, depth, base, 'symlink', mode, 0, { linkname: fsCall(disk, () => readlinkName(disk)) });
  // A hardlink is just another regular file here: nixpkgs writes every occurrence with its content.
  else if (st.isFile()) {
    // Checked now so an unreadable file fails the build before the first byte is written.
    if (addEntry(ctx, path, depth, base, 'file', mode, st.size) && mayBeUnreadable(st, ctx.uid)) fsCall(disk, () => accessSync(disk, constants.R_OK));
  } else if (st.isFIFO()) addEntry(ctx, path, depth, base, 'fifo', mode, 0);
  else if (st.isCharacterDevice() || st.isBlockDevice()) {
    const { major, minor } = splitDevice(st.rdev);
    addEntry(ctx, path, depth, base, st.isCharacterDevice() ? 'character-device' : 'block-device', mode, 0, { devmajor: major, devminor: minor });
  } else throw new LayerError('UNSUPPORTED_TYPE', `layer: ${disk} is a socket; a tar layer cannot hold it`);
}

function lstat(path: string): Stats {
  try {
    return lstatSync(path);
  } catch (error) {
    throw toLayerError(error, path);
  }
}

function walk(ctx: WalkContext, path: string, depth: number, base: string, st: Stats): void {
  addFromStat(ctx, path, depth, base, st);
  if (!st.isDirectory()) return;
  const disk = ctx.root + path;
  const names = sortNames(fsCall(disk, () => readdirNames(disk)));
  // Pre-order with sorted children is exactly nixpkgs' order "sorted by path components".
  for (const name of names) {
    const child = `${path}/${name}`;
    // In the host's store (no root) the image path is the path on disk: build the string once.
    walk(ctx, child, depth + 1, name, lstat(ctx.root === '' ? child : `${disk}/${name}`));
  }
}

function checkStorePath(path: string, storeDir: string): void {
  const rest = path.startsWith(`${storeDir}/`) ? path.slice(storeDir.length + 1) : '';
  if (rest === '' || rest.includes('/') || rest === '.' || rest === '..') {
    throw new LayerError('NOT_IN_STORE', `layer: ${path} is not a store path directly inside ${storeDir}`);
  }
}

/**
 * Plans a store layer from `lstat` data alone: the store directory's ancestors (`/nix/`, `/nix/store/`,
 * mode 0755), then each store path and everything below it, sorted, with the given mtime and owner.
 * Symlinks are never followed. The result knows the exact tar size before any file is read.
 * Synchronous: metadata is almost always cached, and a caller may plan a layer only when it is
 * first needed (a push whose layers a cache knows needs no plan at all).
 * @example
 * const plan = scanLayerSync(['/nix/store/abc-hello'], { mtime: 1 });
 * console.log(plan.size, plan.entries.length);
 */
export function scanLayerSync(storePaths: Iterable<string>, options: ScanLayerOptions = {}): LayerPlan {
  const storeDir = (options.storeDir ?? '/nix/store').replace(/\/+$/, '');
  const overrides = options.overrides instanceof Map ? options.overrides : new Map(Object.entries(options.overrides ?? {}));
  const root = (options.storeRoot ?? '').replace(/\/+$/, '');
  const owner = { uid: options.uid ?? 0, gid: options.gid ?? 0, uname: options.uname ?? 'root', gname: options.gname ?? 'root' };
  const ctx: WalkContext = {
    root,
    overrides: overrides as ReadonlyMap<string, OwnershipOverride>,
    out: new PlannedEntries({ root, namePrefix: '', mtime: toSeconds(options.mtime), owner }),
    uid: process.getuid?.(),
  };
  // In the order given, as nixpkgs' stream script walks a layer's list (the planner's name-then-hash
  // order); only each path's own tree is sorted.
  const paths = [...new Set(storePaths)];
  for (const path of paths) checkStorePath(path, storeDir);
  const parts = storeDir.split('/').filter(Boolean);
  // The first ancestor is named in full ('/nix'), each later one by its component below it.
  for (let i = 1; i <= parts.length; i++) {
    addEntry(ctx, `/${parts.slice(0, i).join('/')}`, i - 1, i === 1 ? `/${parts[0]}` : parts[i - 1]!, 'directory', 0o755, 0);
  }
  for (const path of paths) {
    walk(ctx, path, parts.length, parts.length === 0 ? path : path.slice(storeDir.length + 1), lstat(ctx.root + path));
  }
  return planOf(paths, ctx.out);
}

/** {@link scanLayerSync}, as a promise. */
export async function scanLayer(storePaths: Iterable<string>, options: ScanLayerOptions = {}): Promise<LayerPlan> {
  return scanLayerSync(storePaths, options);
}

/** Options for {@link scanDirectoryLayer}. */
export interface ScanDirectoryLayerOptions extends Pick<ScanLayerOptions, 'uid' | 'gid' | 'uname' | 'gname' | 'overrides'> {
  /** mtime of every entry, seconds since the epoch. @default 315532800 (1980-01-01, nixpkgs' customisation layer) */
  readonly mtime?: Date | number;
}

/**
 * Plans a layer holding everything below `dir`, named as GNU tar names `tar -C dir -cf - .` does
 * (`./`, `./bin/`, `./bin/hello`), sorted, as nixpkgs packs its customisation layer: numeric owners
 * (uid/gid 0 and empty names unless overridden), mtime 1980-01-01. `overrides` are keyed by image
 * path (`/`, `/home/alice`) and may turn plain files into device nodes (fakeroot's mknod).
 */
export async function scanDirectoryLayer(dir: string, options: ScanDirectoryLayerOptions = {}): Promise<LayerPlan> {
  const overrides = options.overrides instanceof Map ? options.overrides : new Map(Object.entries(options.overrides ?? {}));
  const root = dir.replace(/\/+$/, '');
  const owner = { uid: options.uid ?? 0, gid: options.gid ?? 0, uname: options.uname ?? '', gname: options.gname ?? '' };
  const ctx: WalkContext = {
    root,
    overrides: overrides as ReadonlyMap<string, OwnershipOverride>,
    out: new PlannedEntries({ root, namePrefix: '.', mtime: toSeconds(options.mtime ?? 315532800), owner }),
    uid: process.getuid?.(),
  };
  walk(ctx, '', 0, '', lstat(root));
  return planOf([], ctx.out);
}
