// A layer plan's entries, stored compactly outside the JS heap: each entry's last path component
// as UTF-8 bytes in one growing buffer, its depth, type, mode and size in typed arrays, and the rare
// fields (a link target, device numbers, an owner other than the layer's) in a side map. About 25
// bytes an entry instead of an object and a full path of ~250, so a closure of 100k files plans in
// a few MiB; and since almost nothing a scan keeps is a JS object, the garbage collector has little
// to copy and V8 does not grow its young generation for it. Full entries are rebuilt one at a time,
// in order, when the layer is written.
import { END_OF_ARCHIVE, entrySize, fitsField, HEADER_BLOCK, padToBlock } from './_header.js';
import type { Ownership } from './scan.js';
import type { TarEntryType, TarHeader } from './tar-entry.js';

/** One planned entry of a layer: its header, and the file its bytes come from when it is a file. */
export interface LayerEntry extends TarHeader {
  /** The file on disk holding the content (below `storeRoot`). */
  readonly source?: string;
}

const TYPES: readonly TarEntryType[] = ['file', 'directory', 'symlink', 'character-device', 'block-device', 'fifo', 'link'];
const TYPE_INDEX = new Map(TYPES.map((type, i) => [type, i]));

/** The fields an entry rarely has, or rarely differ from the layer's. */
export type RareFields = Partial<Pick<LayerEntry, 'linkname' | 'devmajor' | 'devminor' | 'uid' | 'gid' | 'uname' | 'gname'>>;

/** What every entry of one plan shares. */
export interface SharedFields {
  /** Prepended to an entry's path to find its file on disk. */
  readonly root: string;
  /** Prepended to an entry's path to make its name ('' for absolute names, '.' for `./x`). */
  readonly namePrefix: string;
  readonly mtime: number;
  readonly owner: Ownership;
}

/** A plan's entries in walk order; iterating rebuilds each as a LayerEntry. */
export class PlannedEntries implements Iterable<LayerEntry> {
  readonly #shared: SharedFields;
  /** Every entry's last path component, UTF-8, one after the other; entry i's ends at #ends[i]. */
  #names = Buffer.allocUnsafe(1024);
  #namesLength = 0;
  #ends = new Uint32Array(64);
  #depths = new Uint16Array(64);
  #types = new Uint8Array(64);
  #modes = new Uint16Array(64);
  #sizes = new Float64Array(64);
  readonly #rare = new Map<number, RareFields>();
  /** Whether the layer's owner and mtime fit a plain header, so a plain name decides an entry's header size alone. */
  readonly #plainOwner: boolean;
  #count = 0;
  /** Exact byte length of the tar these entries make. */
  tarSize = END_OF_ARCHIVE;

  constructor(shared: SharedFields) {
    this.#shared = shared;
    const { owner, mtime } = shared;
    // Also refuses an owner or mtime no header can hold, before the first entry is planned.
    this.#plainOwner = entrySize({ name: 'x', type: 'directory', mode: 0, mtime, size: 0, ...owner }) === HEADER_BLOCK;
  }

  get length(): number {
    return this.#count;
  }

  #grow(): void {
    const grow = <T extends Uint32Array | Uint16Array | Uint8Array | Float64Array>(from: T): T => {
      const to = new (from.constructor as new (n: number) => T)(from.length * 2);
      to.set(from);
      return to;
    };
    this.#ends = grow(this.#ends);
    this.#depths = grow(this.#depths);
    this.#types = grow(this.#types);
    this.#modes = grow(this.#modes);
    this.#sizes = grow(this.#sizes);
  }

  /**
   * Adds the entry at `path`, whose last component is `base` and which has `depth` ancestors in
   * this plan (its parent is the last directory added at depth - 1).
   */
  push(path: string, depth: number, base: string, type: TarEntryType, mode: number, size: number, rare?: RareFields): void {
    if (this.#count === this.#types.length) this.#grow();
    const i = this.#count++;
    this.#addName(base);
    this.#ends[i] = this.#namesLength;
    this.#depths[i] = depth;
    this.#types[i] = TYPE_INDEX.get(type)!;
    this.#modes[i] = mode;
    this.#sizes[i] = size;
    const { owner, namePrefix, mtime } = this.#shared;
    const name = namePrefix + (type === 'directory' ? `${path}/` : path);
    if (rare === undefined && this.#plainOwner && fitsField(name, 100)) {
      // The usual entry, sized without building a header (the full rule is entrySize's).
      this.tarSize += HEADER_BLOCK + (type === 'file' ? padToBlock(size) : 0);
    } else if (rare === undefined) {
      this.tarSize += entrySize({ name, type, size, mode, mtime, ...owner });
    } else {
      this.#rare.set(i, rare);
      this.tarSize += entrySize({ name, type, size, mode, mtime, ...owner, ...rare });
    }
  }

  #addName(base: string): void {
    const length = Buffer.byteLength(base);
    if (this.#namesLength + length > this.#names.length) {
      const names = Buffer.allocUnsafe(Math.max(this.#names.length * 2, this.#namesLength + length));
      this.#names.copy(names, 0, 0, this.#namesLength);
      this.#names = names;
    }
    this.#namesLength += this.#names.write(base, this.#namesLength, 'utf8');
  }

  *[Symbol.iterator](): Iterator<LayerEntry> {
    const { root, namePrefix, mtime, owner } = this.#shared;
    const parents: string[] = [];
    for (let i = 0; i < this.#count; i++) {
      const depth = this.#depths[i]!;
      const base = this.#names.toString('utf8', i === 0 ? 0 : this.#ends[i - 1], this.#ends[i]);
      const path = depth === 0 ? base : `${parents[depth - 1]}/${base}`;
      const type = TYPES[this.#types[i]!]!;
      if (type === 'directory') parents[depth] = path;
      const name = namePrefix + (type === 'directory' ? `${path}/` : path);
      const mode = this.#modes[i]!;
      const size = this.#sizes[i]!;
      const { uid, gid, uname, gname } = owner;
      const rare = this.#rare.size === 0 ? undefined : this.#rare.get(i);
      // One allocation for the usual entry; every file names the file its content is read from.
      if (rare === undefined) {
        yield type === 'file'
          ? { name, type, mode, uid, gid, uname, gname, mtime, size, source: root + path }
          : { name, type, mode, uid, gid, uname, gname, mtime, size };
      } else {
        const entry: LayerEntry = { name, type, mode, uid, gid, uname, gname, mtime, size, ...rare };
        yield type === 'file' ? { ...entry, source: root + path } : entry;
      }
    }
  }
}
