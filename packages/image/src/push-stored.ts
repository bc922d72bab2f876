import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { formatReference, parseManifest, parseReference, type Reference, RegistryClient, type RegistryClientOptions } from '@strata/registry';
import { ImageError } from './errors.js';
import type { Image } from './image.js';

/** Options for {@link pushStoredImage}. */
export interface PushStoredImageOptions extends RegistryClientOptions {
  /** Reuse a client (and its tokens). @default a new client for the reference's registry */
  readonly client?: RegistryClient;
  /** Blobs uploaded at once. @default 4 */
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
}

/**
 * Pushes an image together with the exact manifest it was read through (an OCI layout's), so the
 * registry holds the same manifest digest: each layer's blob as stored (skipped when present), the
 * config, then the manifest's own bytes under the reference's tag. The manifest must name the
 * image's layers and config, which is checked first.
 * @example
 * const { image, manifest } = await readOciImage('hello-oci', { name: 'v1' });
 * await pushStoredImage(image, manifest, '127.0.0.1:5000/hello:v1'); // same digest as in the layout
 */
export async function pushStoredImage(
  image: Image,
  manifest: { readonly mediaType: string; readonly bytes: Buffer },
  reference: string | Reference,
  options: PushStoredImageOptions = {},
): Promise<{ readonly reference: string; readonly digest: string }> {
  const ref = typeof reference === 'string' ? parseReference(reference) : reference;
  const parsed = parseManifest(manifest.bytes, 'manifest');
  const diffIds = image.layers.map((l) => l.diffId);
  if (parsed.layers.length !== image.layers.length || parsed.layers.some((l, i) => l.digest !== image.layers[i]!.digest) || diffIds.some((d) => d === undefined)) {
    throw new ImageError('INVALID_OPTION', 'pushStoredImage: the manifest does not name the image\'s layers');
  }
  const config = image.config(diffIds as string[]);
  if (`sha256:${createHash('sha256').update(config).digest('hex')}` !== parsed.config.digest) throw new ImageError('INVALID_OPTION', "pushStoredImage: the manifest does not name the image's config");
  const client = options.client ?? new RegistryClient(ref.registry, options);
  const signal = options.signal ? { signal: options.signal } : {};
  const limit = pLimit(options.concurrency ?? 4);
  await Promise.all(
    image.layers.map((layer, i) =>
      limit(() => client.pushBlob(ref.repository, { digest: parsed.layers[i]!.digest, size: layer.size, open: () => layer.open() }, signal)),
    ),
  );
  await client.pushBlob(ref.repository, { digest: parsed.config.digest, size: config.length, bytes: config }, signal);
  const digest = `sha256:${createHash('sha256').update(manifest.bytes).digest('hex')}`;
  await client.pushManifest(ref.repository, ref.digest === undefined ? (ref.tag ?? digest) : digest, manifest.bytes, manifest.mediaType, signal);
  return { reference: formatReference({ registry: ref.registry, repository: ref.repository, digest }), digest };
}
