import { createRequire } from 'node:module';
import { pipeline, Readable, type Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { DigestCounter, verifyDigest } from './digest.js';
import { RegistryError } from './errors.js';

/**
 * Bytes zlib inflates per call. Its default (16 KiB) makes a gigabyte layer 65,000 thread-pool
 * round trips and as many small writes downstream; 256 KiB chunks cut both sixteenfold.
 */
const INFLATE_CHUNK = 256 * 1024;

/**
 * The decompressor for a blob, chosen by its first bytes: registries and copy tools do store plain
 * tars under a `…tar.gzip` media type (and the reverse), so the type alone is not trusted.
 */
function decompressor(head: Uint8Array): NodeJS.ReadWriteStream | undefined {
  if (head[0] === 0x1f && head[1] === 0x8b) return zlib.createGunzip({ chunkSize: INFLATE_CHUNK });
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return zstdDecompressor();
  return undefined;
}

/** zstd (libzstd through zstd-napi, on every Node), loaded on the first zstd layer only. */
function zstdDecompressor(): Transform {
  const { DecompressStream } = createRequire(import.meta.url)('zstd-napi') as { DecompressStream: new () => Transform };
  const stream = new DecompressStream();
  // zstd-napi fails on an empty chunk after a complete frame ("Stream ended in middle of compressed data frame").
  const transform = stream._transform.bind(stream);
  stream._transform = (chunk: Buffer, encoding, callback) => (chunk.length === 0 ? callback() : transform(chunk, encoding, callback));
  return stream;
}

async function* verified(open: () => Readable, digest: string, diffId: string, limit: number): AsyncGenerator<Buffer> {
  const blob = open();
  const iterator = blob[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  try {
    const first = await iterator.next();
    const head = first.done ? Buffer.alloc(0) : first.value;
    // The blob again from its first chunk, with no copy and no extra buffering stage.
    async function* all(): AsyncGenerator<Buffer> {
      if (first.done) return;
      yield head;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    }
    const inflate = decompressor(head);
    let source: AsyncIterable<Buffer> = all();
    if (inflate) {
      // pipeline carries a blob error (e.g. DIGEST_MISMATCH) into the inflater we read from.
      pipeline(Readable.from(all(), { objectMode: false }), inflate, () => {});
      source = inflate as unknown as AsyncIterable<Buffer>;
    }
    // A plain tar whose diff_id is its blob digest was verified by the blob stream already.
    const counter = inflate || diffId !== digest ? new DigestCounter() : undefined;
    let size = 0;
    for await (const chunk of source) {
      size += chunk.length;
      // A few compressed bytes can inflate to any size: stop at the limit, not at a full disk.
      if (size > limit) throw new RegistryError('SIZE_LIMIT', `layer ${digest} (uncompressed): over the limit of ${limit} bytes (maxBlobSize)`);
      counter?.update(chunk);
      yield chunk;
    }
    if (counter) verifyDigest(`layer ${digest} (uncompressed)`, { digest: diffId }, { digest: counter.digest(), size: counter.size });
  } finally {
    blob.destroy();
  }
}

/**
 * The uncompressed tar of a layer (gzip or zstd, recognised by magic number),
 * checked against its `diff_id`: the stream errors with DIGEST_MISMATCH at the end instead of
 * finishing on bytes that do not match.
 */
export function uncompressedLayer(open: () => Readable, digest: string, diffId: string, limit = Number.POSITIVE_INFINITY): Readable {
  return Readable.from(verified(open, digest, diffId, limit), { objectMode: false });
}
