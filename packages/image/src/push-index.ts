import { type Descriptor, type PushedIndex, pushIndex, parseReference, type Reference, RegistryClient } from '@strata/registry';
import { ImageError } from './errors.js';
import type { Image, Platform } from './image.js';
import { pushImage, type PushImageOptions } from './push.js';

/** Options for {@link pushImageIndex}: pushImage's, applied to each image (`format` defaults to `oci` here, as the index is). */
export interface PushImageIndexOptions extends Omit<PushImageOptions, 'tags'> {
  /** Told when image `index` (0-based) has been pushed, with its manifest's descriptor. @default none */
  readonly onImage?: (index: number, manifest: Descriptor) => void;
}

/** What {@link pushImageIndex} pushed. */
export interface PushedImageIndex extends PushedIndex {
  /** Each image's manifest, with the platform it is listed under, in the order given. */
  readonly manifests: readonly Descriptor[];
}

function platformKey(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/**
 * A multi-platform image: pushes each image by digest (one after the other; each one's layers in
 * parallel; OCI manifests unless `format` says v2s2), then an OCI image index naming each manifest with the platform its config declares
 * (os, architecture, variant), under the reference's tag. Two images for one platform are refused
 * before anything is pushed.
 * @example
 * await pushImageIndex([amd64, arm64], '127.0.0.1:5000/hello:1'); // podman pull --arch arm64 … gets arm64's
 */
export async function pushImageIndex(images: readonly Image[], reference: string | Reference, options: PushImageIndexOptions = {}): Promise<PushedImageIndex> {
  if (images.length === 0) throw new ImageError('INVALID_OPTION', 'images: an index needs at least one image');
  const seen = new Map<string, number>();
  images.forEach((image, i) => {
    const key = platformKey(image.platform);
    const other = seen.get(key);
    if (other !== undefined) throw new ImageError('INVALID_OPTION', `images ${other + 1} and ${i + 1} are both for ${key}: an index lists one image per platform`);
    seen.set(key, i);
  });
  const ref = typeof reference === 'string' ? parseReference(reference) : reference;
  const client = options.client ?? new RegistryClient(ref.registry, options);
  // Each image by digest only: the tag goes to the index, pushed once every image is there.
  const untagged: Reference = { registry: ref.registry, repository: ref.repository };
  const manifests: Descriptor[] = [];
  for (const [i, image] of images.entries()) {
    const pushed = await pushImage(image, untagged, { ...options, format: options.format ?? 'oci', client });
    const { os, architecture, variant } = image.platform;
    const descriptor: Descriptor = { mediaType: pushed.mediaType, digest: pushed.digest, size: pushed.manifest.length, platform: { os, architecture, ...(variant ? { variant } : {}) } };
    manifests.push(descriptor);
    options.onImage?.(i, descriptor);
  }
  const index = await pushIndex(ref, manifests, { client, ...(options.signal ? { signal: options.signal } : {}) });
  return { ...index, manifests };
}
