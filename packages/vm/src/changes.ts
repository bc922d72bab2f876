import { splitDevice } from './device.js';
import type { EntryType, TreeEntry } from './_tree.js';

export { splitDevice } from './device.js';
export type { EntryType } from './_tree.js';

/** What happened to a path of the root during the run. */
export type ChangeKind = 'added' | 'modified' | 'deleted';

/**
 * One changed path of the root, with the owner, group and mode set inside the guest (for a deleted
 * path: the ones it had before). Enough to write a layer: added/modified paths become entries,
 * deleted ones become whiteouts.
 */
export interface RootChange {
  /** Absolute path inside the root (`/etc/passwd`). */
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
}

/**
 * Compares two views of a root and lists what changed, sorted by path. A deleted directory is
 * reported once (its contents go with it, as one whiteout covers them). Directories count as
 * modified only when their type, owner or mode changed; files also when their content changed
 * (new inode, size or ctime on the host).
 */
export function diffTrees(before: ReadonlyMap<string, TreeEntry>, after: ReadonlyMap<string, TreeEntry>): RootChange[] {
  const changes: RootChange[] = [];
  for (const [path, entry] of after) {
    const old = before.get(path);
    if (!old) changes.push(toChange(path, 'added', entry));
    else if (isModified(old, entry)) changes.push(toChange(path, 'modified', entry));
  }
  for (const [path, entry] of before) {
    if (after.has(path)) continue;
    const parent = path.slice(0, path.lastIndexOf('/'));
    // A removed parent is reported itself, and one replaced by a non-directory hides its old contents.
    if (parent === '' || after.get(parent)?.type === 'directory') changes.push(toChange(path, 'deleted', entry));
  }
  return changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function isModified(old: TreeEntry, now: TreeEntry): boolean {
  if (old.type !== now.type || old.mode !== now.mode || old.uid !== now.uid || old.gid !== now.gid) return true;
  if (old.target !== now.target || old.rdev !== now.rdev) return true;
  if (now.type === 'directory') return false;
  return old.ino !== now.ino || old.size !== now.size || old.ctimeNs !== now.ctimeNs;
}

function toChange(path: string, change: ChangeKind, entry: TreeEntry): RootChange {
  const base = { path, change, type: entry.type, uid: entry.uid, gid: entry.gid, mode: entry.mode };
  if (entry.target !== undefined) return { ...base, target: entry.target };
  if (entry.rdev !== undefined) return { ...base, rdev: splitDevice(entry.rdev) };
  return base;
}
