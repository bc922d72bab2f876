import * as zlib from 'node:zlib';
import { type Compression, createZstdCompress, createZstdDecompress } from '@strata/manifest';

export type { Compression } from '@strata/manifest';

/** nixpkgs' whole-archive compressors (`compressor = "none" | "gz" | "zstd"`). */
export type Compressor = 'none' | 'gz' | 'zstd';

/** The file name extension nixpkgs gives each compressor's output. */
export const COMPRESSOR_EXTENSIONS: Readonly<Record<Compressor, string>> = { none: '', gz: '.gz', zstd: '.zst' };

/** A stream that decompresses `compression` (zstd on every Node, through libzstd). */
export function decompressor(compression: Exclude<Compression, 'none'>): NodeJS.ReadWriteStream {
  // 256 KiB a call instead of zlib's 16 KiB: a sixteenth of the thread-pool round trips and writes.
  return compression === 'gzip' ? zlib.createGunzip({ chunkSize: 256 * 1024 }) : createZstdDecompress();
}

/**
 * The stream stages that compress a whole archive as nixpkgs' `compressor` does: gz is Node's zlib
 * (no name, mtime 0: reproducible, like `pigz -n`); zstd is libzstd at level 3 (nixpkgs' default),
 * the same library on every Node, so the same archive gives the same bytes.
 */
export function compressStages(compressor: Compressor): NodeJS.ReadWriteStream[] {
  if (compressor === 'none') return [];
  if (compressor === 'gz') return [zlib.createGzip({ level: 6 })];
  return [createZstdCompress(3)];
}
