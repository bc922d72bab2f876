import { createHash } from 'node:crypto';
import { type Descriptor, manifestBytes } from '@strata/registry';
import type { Image } from './image.js';
import { mediaTypesFor } from './push.js';

/** An image's manifest and config, as exact bytes with their descriptors. */
export interface StoredManifest {
  readonly mediaType: string;
  readonly digest: string;
  readonly bytes: Buffer;
  readonly config: Descriptor & { readonly bytes: Buffer };
  readonly layers: readonly Descriptor[];
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Learns a layer's digests by reading it once, when the image does not declare them. */
async function digestsOf(image: Image, signal?: AbortSignal): Promise<{ digest: string; diffId: string }[]> {
  const out: { digest: string; diffId: string }[] = [];
  for (const layer of image.layers) {
    if (layer.digest !== undefined && layer.diffId !== undefined) {
      out.push({ digest: layer.digest, diffId: layer.diffId });
      continue;
    }
    signal?.throwIfAborted();
    const stream = layer.open();
    const stop = () => stream.destroy(signal?.reason as Error);
    signal?.addEventListener('abort', stop, { once: true });
    try {
      stream.resume();
      out.push({ digest: await stream.digest, diffId: await stream.diffId });
    } finally {
      signal?.removeEventListener('abort', stop);
    }
  }
  return out;
}

/**
 * The manifest of an image's layers as they are stored (an archive's as they are in the file, a
 * built image's uncompressed): the exact bytes `pushImage` sends when it keeps each layer as it is,
 * with the config and layer descriptors. Layers whose digests the image does not declare (a
 * compressed layer in an archive, a layer being built) are read once to learn them.
 * @example
 * const { digest, bytes } = await storedManifest(await readImage('hello.tar'));
 */
export async function storedManifest(image: Image, options: { readonly signal?: AbortSignal } = {}): Promise<StoredManifest> {
  const types = mediaTypesFor(image.layers.map((l) => l.compression));
  const digests = await digestsOf(image, options.signal);
  const configBytes = image.config(digests.map((d) => d.diffId));
  const config = { mediaType: types.config, digest: sha256(configBytes), size: configBytes.length };
  const layers = image.layers.map((layer, i) => ({ mediaType: types.layer(layer.compression), digest: digests[i]!.digest, size: layer.size }));
  const { bytes, mediaType } = manifestBytes({}, { bytes: configBytes, mediaType: config.mediaType }, config.digest, layers);
  return { mediaType, digest: sha256(bytes), bytes, config: { ...config, bytes: configBytes }, layers };
}
