/** The kinds of filesystem entries an image can hold (tar-stream's names, as `@strata/layer` writes them). */
export type UnpackedType = 'file' | 'directory' | 'symlink' | 'character-device' | 'block-device' | 'fifo';

/**
 * What the image says about one path of its flattened filesystem. Every field a directory on disk
 * cannot hold without privileges is here: owners, the full mode (setuid/setgid/sticky included) and
 * device numbers. Its `uid`/`gid`/`uname`/`gname`/`mode`/`device` fields are exactly `@strata/layer`'s
 * `OwnershipOverride`, so the map passes as `scanDirectoryLayer`'s `overrides` unchanged.
 */
export interface UnpackedEntry {
  readonly type: UnpackedType;
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
  /** Permission bits including setuid/setgid/sticky (no file-type bits). */
  readonly mode: number;
  /** Modification time the layer recorded, seconds since the epoch (not applied on disk). */
  readonly mtime: number;
  /** Content bytes of a file; 0 for everything else. */
  readonly size: number;
  /** A symlink's target, as the layer wrote it. */
  readonly linkname?: string;
  /**
   * A device node or fifo. On disk it is an empty placeholder file (mode 0600): making a device needs
   * root, and a fifo would block whoever reads the tree back.
   */
  readonly device?: { readonly type: 'char' | 'block' | 'fifo'; readonly major: number; readonly minor: number };
  /**
   * Index (in `image.layers`) of the last layer that wrote this path or something below it; -1 for a
   * root directory no layer named.
   */
  readonly layer: number;
}

/** What a walk over an image's layers learnt: the flattened filesystem's metadata and the paths each layer names. */
export interface ImageTree {
  /**
   * Every path of the flattened filesystem (whiteouts applied), keyed by absolute image path without a
   * trailing slash: `/`, `/bin`, `/bin/sh`. Paths are canonical: an entry written through a symlinked
   * directory is keyed where it landed. Insertion order, not sorted.
   */
  readonly entries: ReadonlyMap<string, UnpackedEntry>;
  /**
   * For each layer of `image.layers`, in order, the paths its entries name (as written, cleaned to
   * `/a/b`; whiteout markers left out). A repeated layer (listed twice) gets the same list at each
   * position. This is nixpkgs' `baseFiles` when buildImage diffs new store paths against a base.
   */
  readonly layerPaths: readonly (readonly string[])[];
  /** Bytes of file content the layers wrote (counting each overwrite), what `maxBytes` bounds. */
  readonly bytes: number;
}
