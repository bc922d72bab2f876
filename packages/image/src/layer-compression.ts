import { availableParallelism } from 'node:os';
import type { Transform } from 'node:stream';
import { createZstdCompress, zstdVersion } from '@strata/manifest';
import { GZIP_BLOCK, ParallelGzip } from './_parallel-gzip.js';
import type { Compression } from './compression.js';
import { ImageError } from './errors.js';

/** How a sink compresses each layer it writes or uploads. */
export interface LayerCompression {
  /** @default 'none' */
  readonly compression?: Compression;
  /** gzip 1-9, zstd 1-19. @default gzip 3, zstd 3 (zstd's default) */
  readonly level?: number;
}

/** A {@link LayerCompression} with its level filled in (0 for none). */
export interface ResolvedCompression {
  readonly compression: Compression;
  readonly level: number;
}

// gzip 3: zlib's level 6 is half as fast for 4% less; at 3 Node's zlib compresses real closures as
// fast as skopeo's (klauspost's) default and about as small (measured in bench/push.bench.mjs).
const LEVELS = { gzip: { min: 1, max: 9, default: 3 }, zstd: { min: 1, max: 19, default: 3 } } as const;

/** Checks a compression and level, filling in the default level; throws ImageError `INVALID_OPTION` naming the field. */
export function resolveCompression(options: LayerCompression = {}): ResolvedCompression {
  const compression = options.compression ?? 'none';
  if (compression !== 'none' && compression !== 'gzip' && compression !== 'zstd') {
    throw new ImageError('INVALID_OPTION', `compression: expected none, gzip or zstd, got ${JSON.stringify(compression)}`);
  }
  if (compression === 'none') {
    if (options.level !== undefined) throw new ImageError('INVALID_OPTION', 'compression level: uncompressed layers take no level');
    return { compression, level: 0 };
  }
  const range = LEVELS[compression];
  const level = options.level ?? range.default;
  if (!Number.isInteger(level) || level < range.min || level > range.max) {
    throw new ImageError('INVALID_OPTION', `compression level: ${compression} takes ${range.min} to ${range.max}, got ${level}`);
  }
  return { compression, level };
}

/**
 * What makes a compressed layer's bytes, for a cache key: the compression, its level and the
 * library that compresses (another zlib or libzstd may give other bytes for the same tar).
 * @example compressionIdentity({ compression: 'gzip', level: 6 }) // 'gzip-6 zlib-1.3.1-e00f703 blocks-1048576-mem9 x64'
 */
export function compressionIdentity(c: ResolvedCompression): string {
  if (c.compression === 'none') return 'none';
  const library = c.compression === 'gzip' ? `zlib-${process.versions.zlib} blocks-${GZIP_BLOCK}-mem9-stored` : `libzstd-${zstdVersion()}-mt`;
  return `${c.compression}-${c.level} ${library} ${process.arch}`;
}

/** zstd worker threads per layer: several layers compress at once already, so about half the cores each, at most 4. */
function zstdWorkers(): number {
  return Math.max(1, Math.min(4, Math.floor(availableParallelism() / 2)));
}

/**
 * The compressor of one layer. gzip is zlib on the thread pool in 1 MiB blocks, several cores at
 * once (see {@link ParallelGzip}: one big layer no longer leaves a core idle), with a header without
 * name or mtime and the OS byte of Unix. zstd runs on libzstd's own threads (never blocking the
 * event loop); its multi-threaded output is the same for any number of workers. Either way the
 * bytes do not depend on the machine's cores.
 */
export function layerCompressor(c: ResolvedCompression, options: { lend?: boolean } = {}): Transform {
  if (c.compression === 'gzip') return new ParallelGzip(c.level, options);
  if (c.compression === 'zstd') return createZstdCompress(c.level, { workers: zstdWorkers() });
  throw new ImageError('INVALID_OPTION', 'layerCompressor: nothing to compress with "none"');
}
