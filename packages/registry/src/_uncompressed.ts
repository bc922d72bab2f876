import { pipeline, Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { DigestCounter, verifyDigest } from './digest.js';
import { RegistryError } from './errors.js';

function decompressor(mediaType: string, digest: string): NodeJS.ReadWriteStream | undefined {
  if (mediaType.endsWith('gzip')) return zlib.createGunzip();
  if (mediaType.endsWith('zstd')) {
    const create = (zlib as unknown as { createZstdDecompress?: () => NodeJS.ReadWriteStream }).createZstdDecompress;
    if (!create) throw new RegistryError('UNSUPPORTED_MEDIA_TYPE', `layer ${digest}: zstd needs Node >= 22.15 (this is ${process.version})`);
    return create();
  }
  return undefined;
}

async function* verified(open: () => Readable, mediaType: string, digest: string, diffId: string): AsyncGenerator<Buffer> {
  const inflate = decompressor(mediaType, digest);
  const blob = open();
  let source: AsyncIterable<Buffer> = blob;
  if (inflate) {
    // pipeline carries a blob error (e.g. DIGEST_MISMATCH) into the inflater we read from.
    pipeline(blob, inflate, () => {});
    source = inflate as unknown as AsyncIterable<Buffer>;
  }
  const counter = new DigestCounter();
  for await (const chunk of source) {
    counter.update(chunk);
    yield chunk;
  }
  verifyDigest(`layer ${digest} (uncompressed)`, { digest: diffId }, { digest: counter.digest(), size: counter.size });
}

/**
 * The uncompressed tar of a layer (gzip, or zstd where Node has it), checked against its `diff_id`:
 * the stream errors with DIGEST_MISMATCH at the end instead of finishing on bytes that do not match.
 */
export function uncompressedLayer(open: () => Readable, mediaType: string, digest: string, diffId: string): Readable {
  return Readable.from(verified(open, mediaType, digest, diffId), { objectMode: false });
}
