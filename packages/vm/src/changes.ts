import { splitDevice } from './device.js';
import type { EntryType, TreeEntry } from './_tree.js';

export type { EntryType } from './_tree.js';

/** What happened to a path of the root during the run. */
export type ChangeKind = 'added' | 'modified' | 'deleted';

/**
 * One changed path of the root, with the owner, group and mode set inside the guest (for a deleted
 * path: the ones it had before). Exactly what a layer on top of the root needs: added and modified
 * paths become entries, deleted ones whiteouts (`.wh.NAME`), opaque directories `.wh..wh..opq`.
 */
export interface RootChange {
  /** Absolute path inside the root (`/etc/passwd`; `/` when the root directory's own owner or mode changed). */
  readonly path: string;
  readonly change: ChangeKind;
  readonly type: EntryType;
  readonly uid: number;
  readonly gid: number;
  /** Permission bits including setuid/setgid/sticky (`0o4755`). */
  readonly mode: number;
  /** Symlink target, for symlinks. */
  readonly target?: string;
  /** Device numbers, for char and block devices. */
  readonly rdev?: { readonly major: number; readonly minor: number };
  /**
   * On a modified directory: it was removed and made again, so nothing it held before shows through;
   * everything it holds now is listed as added. A layer marks it with `DIR/.wh..wh..opq`.
   */
  readonly opaque?: true;
}

/** The overlay's view of a run: the root before, and the upper layer the script's writes went to. */
export interface OverlayView {
  /** The root as the guest saw it before the script (image paths, `/` included). */
  readonly lower: ReadonlyMap<string, TreeEntry>;
  /** The upper layer: every path the script created, changed or copied up, and a whiteout (char 0:0) per removed path. */
  readonly upper: ReadonlyMap<string, TreeEntry>;
  /** Directories of the upper layer that hide everything below them in the lower one. */
  readonly opaque: ReadonlySet<string>;
}

const COMPARE_CONCURRENCY = 8;

/**
 * Lists what the script changed, sorted by path, from the overlay's upper layer. A path copied up
 * but left as it was (opened for writing, touched, chowned to its own owner) is not a change: its
 * type, owner, mode, target, device and, for files, its bytes (`sameContent`, asked only when the
 * sizes agree) are compared with the lower layer. A removed directory is one deletion (its contents
 * go with it). A type change is `modified` with the new type: a layer entry replaces the old path,
 * a directory's contents included, with no whiteout needed.
 */
export async function diffOverlay(view: OverlayView, sameContent: (path: string) => Promise<boolean>): Promise<RootChange[]> {
  const { lower, upper, opaque } = view;
  // Under an opaque directory the lower layer is hidden: everything there is new.
  const before = (path: string) => (hiddenByOpaque(path, opaque) ? undefined : lower.get(path));
  const candidates: string[] = [];
  for (const [path, entry] of upper) {
    const old = before(path);
    if (old && !isWhiteout(entry) && !opaque.has(path) && !metadataDiffers(old, entry) && entry.type === 'file' && old.size === entry.size) {
      candidates.push(path);
    }
  }
  const same = new Set<string>();
  for (let i = 0; i < candidates.length; i += COMPARE_CONCURRENCY) {
    const batch = candidates.slice(i, i + COMPARE_CONCURRENCY);
    const results = await Promise.all(batch.map(sameContent));
    for (const [j, path] of batch.entries()) if (results[j]) same.add(path);
  }
  const changes: RootChange[] = [];
  for (const [path, entry] of upper) {
    const old = before(path);
    if (isWhiteout(entry)) {
      // The overlay whites out only what the lower layer has; anything else is not a change.
      if (old) changes.push(toChange(path, 'deleted', old));
    } else if (!old) changes.push(toChange(path, 'added', entry));
    else if (opaque.has(path)) changes.push({ ...toChange(path, 'modified', entry), opaque: true });
    else if (metadataDiffers(old, entry) || (entry.type === 'file' && !same.has(path))) changes.push(toChange(path, 'modified', entry));
  }
  return changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The overlay's whiteout: a character device 0:0 (the overlay refuses to let a script make one). */
export function isWhiteout(entry: TreeEntry): boolean {
  return entry.type === 'char' && entry.rdev === 0n;
}

function hiddenByOpaque(path: string, opaque: ReadonlySet<string>): boolean {
  for (let p = parentOf(path); p !== undefined; p = parentOf(p)) if (opaque.has(p)) return true;
  return false;
}

function parentOf(path: string): string | undefined {
  if (path === '/') return undefined;
  const slash = path.lastIndexOf('/');
  return slash === 0 ? '/' : path.slice(0, slash);
}

function metadataDiffers(old: TreeEntry, now: TreeEntry): boolean {
  return old.type !== now.type || old.mode !== now.mode || old.uid !== now.uid || old.gid !== now.gid || old.target !== now.target || old.rdev !== now.rdev;
}

function toChange(path: string, change: ChangeKind, entry: TreeEntry): RootChange {
  const base = { path, change, type: entry.type, uid: entry.uid, gid: entry.gid, mode: entry.mode };
  if (entry.target !== undefined) return { ...base, target: entry.target };
  if (entry.rdev !== undefined) return { ...base, rdev: splitDevice(entry.rdev) };
  return base;
}
