import { accessSync, constants, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { splitDevice } from './device.js';
import { tarSize } from './tar.js';
import { LayerError, toLayerError } from './errors.js';
import type { TarHeader } from './tar-entry.js';

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

/** One planned entry of a layer: its header, and the file its bytes come from when it is a file. */
export interface LayerEntry extends TarHeader {
  /** The file on disk holding the content (below `storeRoot`). */
  readonly source?: string;
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
  /** Prepended to each image path to make the entry name ('' for absolute names, '.' for `./x`). */
  readonly namePrefix: string;
  readonly mtime: number;
  readonly owner: Ownership;
  readonly overrides: ReadonlyMap<string, OwnershipOverride>;
  readonly out: LayerEntry[];
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

function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function toSeconds(mtime: Date | number | undefined): number {
  if (mtime === undefined) return 1;
  const seconds = typeof mtime === 'number' ? mtime : Math.floor(mtime.getTime() / 1000);
  if (!Number.isInteger(seconds) || seconds < 0) {
    throw new LayerError('INVALID_OPTION', `layer: mtime must be a whole number of seconds >= 0, got ${String(mtime)}`);
  }
  return seconds;
}

const DEVICE_TYPES = { char: 'character-device', block: 'block-device', fifo: 'fifo' } as const;

function entryOf(ctx: WalkContext, path: string, header: Omit<TarHeader, keyof Ownership | 'name' | 'mtime'>): LayerEntry {
  const o = ctx.overrides.get(path || '/');
  const name = ctx.namePrefix + (header.type === 'directory' ? `${path}/` : path);
  const device = o?.device ? { type: DEVICE_TYPES[o.device.type], size: 0, devmajor: o.device.major, devminor: o.device.minor } : {};
  return {
    ...header,
    ...device,
    name,
    mtime: ctx.mtime,
    uid: o?.uid ?? ctx.owner.uid,
    gid: o?.gid ?? ctx.owner.gid,
    uname: o?.uname ?? ctx.owner.uname,
    gname: o?.gname ?? ctx.owner.gname,
    mode: o?.mode ?? header.mode,
  };
}

function entryFromStat(ctx: WalkContext, path: string, st: Stats): LayerEntry {
  const disk = ctx.root + path;
  const mode = st.mode & 0o7777;
  if (st.isDirectory()) return entryOf(ctx, path, { type: 'directory', mode, size: 0 });
  if (st.isSymbolicLink()) {
    const linkname = fsCall(disk, () => readlinkSync(disk));
    return entryOf(ctx, path, { type: 'symlink', mode, size: 0, linkname });
  }
  // A hardlink is just another regular file here: nixpkgs writes every occurrence with its content.
  if (st.isFile()) {
    const entry = entryOf(ctx, path, { type: 'file', mode, size: st.size });
    if (entry.type !== 'file') return entry; // a faked device node: no content
    // Checked now so an unreadable file fails the build before the first byte is written.
    fsCall(disk, () => accessSync(disk, constants.R_OK));
    return { ...entry, source: disk };
  }
  if (st.isFIFO()) return entryOf(ctx, path, { type: 'fifo', mode, size: 0 });
  if (st.isCharacterDevice() || st.isBlockDevice()) {
    const { major, minor } = splitDevice(st.rdev);
    const type = st.isCharacterDevice() ? 'character-device' : 'block-device';
    return entryOf(ctx, path, { type, mode, size: 0, devmajor: major, devminor: minor });
  }
  throw new LayerError('UNSUPPORTED_TYPE', `layer: ${disk} is a socket; a tar layer cannot hold it`);
}

function walk(ctx: WalkContext, path: string, st: Stats): void {
  ctx.out.push(entryFromStat(ctx, path, st));
  if (!st.isDirectory()) return;
  const disk = ctx.root + path;
  const names = fsCall(disk, () => readdirSync(disk)).sort(byBytes);
  // Pre-order with sorted children is exactly nixpkgs' order "sorted by path components".
  for (const name of names) walk(ctx, `${path}/${name}`, fsCall(`${disk}/${name}`, () => lstatSync(`${disk}/${name}`)));
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
  const ctx: WalkContext = {
    root: (options.storeRoot ?? '').replace(/\/+$/, ''),
    namePrefix: '',
    mtime: toSeconds(options.mtime),
    owner: { uid: options.uid ?? 0, gid: options.gid ?? 0, uname: options.uname ?? 'root', gname: options.gname ?? 'root' },
    overrides: overrides as ReadonlyMap<string, OwnershipOverride>,
    out: [],
  };
  // In the order given, as nixpkgs' stream script walks a layer's list (the planner's name-then-hash
  // order); only each path's own tree is sorted.
  const paths = [...new Set(storePaths)];
  for (const path of paths) checkStorePath(path, storeDir);
  const parts = storeDir.split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    ctx.out.push(entryOf(ctx, `/${parts.slice(0, i).join('/')}`, { type: 'directory', mode: 0o755, size: 0 }));
  }
  for (const path of paths) {
    walk(ctx, path, fsCall(ctx.root + path, () => lstatSync(ctx.root + path)));
  }
  return { paths, entries: ctx.out, size: tarSize(ctx.out) };
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
  const ctx: WalkContext = {
    root: dir.replace(/\/+$/, ''),
    namePrefix: '.',
    mtime: toSeconds(options.mtime ?? 315532800),
    owner: { uid: options.uid ?? 0, gid: options.gid ?? 0, uname: options.uname ?? '', gname: options.gname ?? '' },
    overrides: overrides as ReadonlyMap<string, OwnershipOverride>,
    out: [],
  };
  walk(ctx, '', fsCall(ctx.root, () => lstatSync(ctx.root)));
  return { paths: [], entries: ctx.out, size: tarSize(ctx.out) };
}
