import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { type Descriptor, type ImageSource, MediaType, sha256Digest } from '../src/index.js';

/** A docker config JSON for `layers`, with diff_ids equal to the (uncompressed) layer digests. */
export function configFor(layers: readonly Descriptor[], architecture = 'amd64'): { bytes: Buffer; mediaType: string } {
  const config = { architecture, os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } };
  return { bytes: Buffer.from(JSON.stringify(config)), mediaType: MediaType.dockerConfig };
}

/** Random layer bytes (not valid tars: the registry and skopeo inspect never look inside). */
export function randomLayers(sizes: readonly number[]): Buffer[] {
  return sizes.map((s) => randomBytes(s));
}

/**
 * An image with three layers pushed three ways: bytes with a known digest (monolithic PUT), a
 * stream with a known digest and size, and a stream of unknown digest (POST → PATCH → PUT?digest).
 */
export function mixedImage(layers: readonly Buffer[], architecture = 'amd64'): ImageSource {
  const [a, b, ...rest] = layers;
  return {
    layers: [
      { mediaType: MediaType.dockerLayer, bytes: a!, digest: sha256Digest(a!), size: a!.length },
      { mediaType: MediaType.dockerLayer, open: () => Readable.from([b!.subarray(0, 1000), b!.subarray(1000)]), digest: sha256Digest(b!), size: b!.length },
      ...rest.map((c) => ({ mediaType: MediaType.dockerLayer, open: () => Readable.from([c]) })),
    ],
    config: (descriptors) => configFor(descriptors, architecture),
  };
}

/** Concatenates a readable into one buffer. */
export async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}
