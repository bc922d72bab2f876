import { createRequire } from 'node:module';
import type { Transform, TransformCallback } from 'node:stream';

interface ZstdNapi {
  CompressStream: new (parameters?: { compressionLevel?: number }) => Transform;
  DecompressStream: new () => Transform;
}

let zstd: ZstdNapi | undefined;
let SafeDecompressStream: (new () => Transform) | undefined;

/** The zstd binding, loaded on first use: commands that never meet zstd do not load a native module. */
function binding(): ZstdNapi {
  zstd ??= createRequire(import.meta.url)('zstd-napi') as ZstdNapi;
  return zstd;
}

/**
 * zstd-napi's DecompressStream fails with "Stream ended in middle of compressed data frame" when an
 * empty chunk follows a complete frame (object-mode sources pass empty buffers on); skip them.
 */
function decompressStream(): new () => Transform {
  SafeDecompressStream ??= class extends binding().DecompressStream {
    override _transform(chunk: Buffer, encoding: BufferEncoding, callback: TransformCallback): void {
      if (chunk.length === 0) callback();
      else super._transform(chunk, encoding, callback);
    }
  };
  return SafeDecompressStream;
}

/**
 * A zstd compressor (libzstd through zstd-napi, the same library version on every Node, so the same
 * input at the same level gives the same bytes wherever strata runs). @default level 3, zstd's own
 */
export function createZstdCompress(level = 3): Transform {
  return new (binding().CompressStream)({ compressionLevel: level });
}

/** A zstd decompressor (zstd-napi), for Node 20 as for later versions. */
export function createZstdDecompress(): Transform {
  return new (decompressStream())();
}
