import type { Readable } from 'node:stream';

/**
 * The kinds of entries strata writes (tar-stream's names). `link` is a hard link: a second name of
 * a file written earlier in the same archive (`linkname`), with no content of its own. Store layers
 * write every hardlink as a regular file, as nixpkgs does; buildImage uses `link` to store a file
 * that is both at `/` and in the store once.
 */
export type TarEntryType = 'file' | 'link' | 'directory' | 'symlink' | 'character-device' | 'block-device' | 'fifo';

/** Every header field of one tar entry, all set explicitly so archives are reproducible. */
export interface TarHeader {
  /** Entry name as written; directories end with `/`. */
  readonly name: string;
  readonly type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (no file-type bits). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
  /** Modification time in whole seconds since the epoch. */
  readonly mtime: number;
  /** Content bytes; 0 for directories and symlinks. */
  readonly size: number;
  /** Symlink target; for a hard link, the name of the earlier entry as written (`./bin/bash`). */
  readonly linkname?: string;
  /** Device numbers of a character or block device. @default 0 */
  readonly devmajor?: number;
  readonly devminor?: number;
}

/**
 * A tar entry with its content: nothing, a buffer, or a function opening the bytes (a Node Readable
 * or any async iterable of Buffers) of exactly `size` bytes, called once when the entry is written.
 */
export interface TarEntry extends TarHeader {
  readonly body?: Buffer | (() => AsyncIterable<Buffer> | Readable);
}
