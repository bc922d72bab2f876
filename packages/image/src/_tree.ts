// The flattened filesystem of an image being unpacked, held as metadata only, and the one place
// that turns a layer entry's name into a path inside the root. Resolution works on this model, not
// on the disk: the model mirrors exactly what was written below the root (the root starts empty and
// nothing else writes there), so every directory a path is resolved through is one this code made,
// and no symlink on disk is ever followed. Symlinks met on the way are followed inside the model
// with chroot semantics, as a container runtime resolves them (Go's securejoin, umoci): an absolute
// target starts again at the root and `..` stops at the root, so nothing resolves outside it.
import type { UnpackedEntry } from './image-tree.js';
import { ImageError } from './errors.js';

/** What the model asks of the disk below the root (nothing, when only listing). */
export interface TreeDisk {
  /** Makes the directory at canonical image path `path` (its parent exists). */
  mkdir(path: string): void;
  /** Removes whatever is at `path`, recursively, never following a symlink. */
  remove(path: string): void;
}

/** An entry of the model: the public record, whose `layer` moves up as later layers write below it. */
export type TreeEntry = { -readonly [K in keyof UnpackedEntry]: UnpackedEntry[K] };

/** How many symlinks one resolution may follow (Linux's MAXSYMLINKS). */
const MAX_HOPS = 40;

/** Longest entry name accepted (Linux's PATH_MAX): bounds what one hostile name can cost. */
export const MAX_NAME_BYTES = 4096;

export function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}

/**
 * The components of an entry name, cleaned lexically (`./a//b/` → a, b; `a/../b` → b). Absolute names
 * are taken from the root, as every runtime does; a name that climbs above the root (`../x`,
 * `a/../../x`) is refused, as Docker and podman refuse it ("breakout"), rather than clamped.
 */
export function cleanName(name: string, where: string): string[] {
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) throw new ImageError('INVALID_IMAGE', `${where}: the name is longer than ${MAX_NAME_BYTES} bytes`);
  if (name.includes('\0')) throw new ImageError('INVALID_IMAGE', `${where}: the name holds a NUL byte`);
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..') parts.push(part);
    else if (parts.pop() === undefined) throw new ImageError('UNSAFE_ENTRY', `${where}: the name climbs above the root`);
  }
  return parts;
}

/** The flattened filesystem's metadata, with chroot-style resolution of names inside it. */
export class Tree {
  readonly entries = new Map<string, TreeEntry>();
  readonly #children = new Map<string, Set<string>>([['/', new Set()]]);
  readonly #disk: TreeDisk;
  readonly #maxEntries: number;
  // The last parent resolved, reused while nothing was removed (entries come sorted, so most
  // consecutive entries share their parent).
  #cache: { key: string; path: string } | undefined;

  constructor(disk: TreeDisk, maxEntries: number) {
    this.#disk = disk;
    this.#maxEntries = maxEntries;
    this.entries.set('/', { type: 'directory', uid: 0, gid: 0, uname: '', gname: '', mode: 0o755, mtime: 0, size: 0, layer: -1 });
  }

  get(path: string): TreeEntry | undefined {
    return this.entries.get(path);
  }

  /**
   * The canonical path of the directory `parts` name, symlinks followed inside the root. A missing
   * directory is made (mode 0755, root-owned, as tar and runtimes make implicit parents) when
   * `layer` is given; otherwise the result is undefined. A component that is neither a directory
   * nor a symlink, or a symlink loop, fails naming `where`.
   */
  resolveDir(parts: readonly string[], where: string, layer?: number): string | undefined {
    const key = parts.join('/');
    if (this.#cache?.key === key) return this.#cache.path;
    let path = '/';
    const pending = [...parts].reverse();
    let hops = 0;
    while (pending.length > 0) {
      const part = pending.pop()!;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        path = parentOf(path); // `..` at the root stays at the root, as in a chroot
        continue;
      }
      const next = childPath(path, part);
      const entry = this.entries.get(next);
      if (entry === undefined) {
        if (layer === undefined) return undefined;
        this.#disk.mkdir(next);
        this.set(next, { type: 'directory', uid: 0, gid: 0, uname: '', gname: '', mode: 0o755, mtime: 0, size: 0, layer });
      } else if (entry.type === 'symlink') {
        if (++hops > MAX_HOPS) throw new ImageError('INVALID_IMAGE', `${where}: more than ${MAX_HOPS} symlinks on the way (a loop?)`);
        const target = entry.linkname ?? '';
        if (target.startsWith('/')) path = '/';
        pending.push(...target.split('/').reverse());
        continue;
      } else if (entry.type !== 'directory') {
        throw new ImageError('INVALID_IMAGE', `${where}: ${next} is not a directory`);
      }
      path = next;
    }
    if (layer !== undefined) this.#cache = { key, path };
    return path;
  }

  /** Records `entry` at `path` (its parent is a directory of the model) and marks its ancestors as written by its layer. */
  set(path: string, entry: TreeEntry): void {
    if (!this.entries.has(path)) {
      if (this.entries.size >= this.#maxEntries) {
        throw new ImageError('LIMIT_EXCEEDED', `unpack: more than maxEntries (${this.#maxEntries}) paths in the image`);
      }
      const parent = parentOf(path);
      this.#children.get(parent)!.add(path.slice(parent === '/' ? 1 : parent.length + 1));
    }
    this.entries.set(path, entry);
    if (entry.type === 'directory' && !this.#children.has(path)) this.#children.set(path, new Set());
    for (let up = parentOf(path); ; up = parentOf(up)) {
      const ancestor = this.entries.get(up)!;
      if (ancestor.layer >= entry.layer) break;
      ancestor.layer = entry.layer;
      if (up === '/') break;
    }
  }

  /** Removes `path` and everything below it, on disk and in the model. */
  remove(path: string): void {
    if (!this.entries.has(path)) return;
    this.#disk.remove(path);
    this.#forget(path);
    const parent = parentOf(path);
    this.#children.get(parent)?.delete(path.slice(parent === '/' ? 1 : parent.length + 1));
    this.#cache = undefined;
  }

  #forget(path: string): void {
    this.entries.delete(path);
    const names = this.#children.get(path);
    if (names === undefined) return;
    this.#children.delete(path);
    for (const name of names) this.#forget(childPath(path, name));
  }

  /**
   * `.wh..wh..opq` in `dir` from `layer`: what lower layers put below `dir` is gone; what `layer`
   * itself wrote there stays, whichever order the marker and those entries come in.
   */
  opaque(dir: string, layer: number): void {
    for (const name of [...(this.#children.get(dir) ?? [])]) {
      const path = childPath(dir, name);
      const entry = this.entries.get(path)!;
      if (entry.layer < layer) this.remove(path);
      else if (entry.type === 'directory') this.opaque(path, layer);
    }
  }

  /**
   * `.wh.NAME` from `layer`: NAME as lower layers left it is gone. Whiteouts apply to lower layers
   * only (OCI image-spec, layer.md), so what `layer` itself wrote at or below NAME stays.
   */
  whiteout(path: string, layer: number): void {
    const entry = this.entries.get(path);
    if (entry === undefined) return;
    if (entry.layer < layer) this.remove(path);
    else if (entry.type === 'directory') this.opaque(path, layer);
  }
}
