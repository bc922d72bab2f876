import type { PulledImage } from '@strata/registry';
import type { Compression } from './compression.js';
import { ImageError } from './errors.js';
import type { Image } from './image.js';
import { createLayer } from './layer.js';
import { fixedConfig } from './_fixed-config.js';

/** Options for {@link registryImage}. */
export interface RegistryImageOptions {
  /** `name:tag` entries an archive sink names the image by. @default none */
  readonly repoTags?: readonly string[];
}

/** How a layer media type says its bytes are compressed; undefined for what is not a layer tar (an artifact's blob). */
export function compressionOfMediaType(mediaType: string): Compression | undefined {
  if (!/^application\/vnd\.(oci\.image\.layer\.v1\.tar|docker\.image\.rootfs\.(foreign\.)?diff\.tar)/.test(mediaType)) return undefined;
  if (/zstd$/.test(mediaType)) return 'zstd';
  if (/gzip$/.test(mediaType)) return 'gzip';
  return 'none';
}

/**
 * An image resolved in a registry (`@strata/registry`'s pullImage) as a lazy {@link Image}: each
 * layer streams from the registry when a sink pulls it, as it is stored there (gzip, zstd or plain),
 * checked against the digest the manifest names and the diffID the config declares; the config is
 * the registry's exact bytes, so the image ID stays the same.
 * @example
 * const image = registryImage(await pullImage('127.0.0.1:5000/app:1'), { repoTags: ['app:1'] });
 * await saveImage(await uncompressedImage(image, { directory }), 'app.tar', { compressor: 'none' });
 */
export function registryImage(pulled: PulledImage, options: RegistryImageOptions = {}): Image {
  const where = `${pulled.reference.registry}/${pulled.reference.repository}@${pulled.digest}`;
  const config = JSON.parse(pulled.config.bytes.toString('utf8')) as { os?: unknown; architecture?: unknown; variant?: unknown; rootfs?: { diff_ids?: unknown } };
  if (typeof config.os !== 'string' || typeof config.architecture !== 'string') throw new ImageError('INVALID_IMAGE', `${where}: the config names no os and architecture: not an image`);
  const layers = pulled.layers.map((layer, i) => {
    const compression = compressionOfMediaType(layer.descriptor.mediaType);
    if (compression === undefined) throw new ImageError('INVALID_IMAGE', `${where}: layer ${i + 1} has media type ${layer.descriptor.mediaType}, not a layer tar`);
    if (layer.diffId === undefined) throw new ImageError('INVALID_IMAGE', `${where}: the config has no diff_id for layer ${i + 1}`);
    return createLayer({
      size: layer.descriptor.size,
      compression,
      digest: layer.descriptor.digest,
      diffId: layer.diffId,
      open: () => layer.open(),
      name: `${where}: layer ${i + 1}`,
    });
  });
  return {
    repoTags: options.repoTags ?? [],
    platform: { os: config.os, architecture: config.architecture, ...(typeof config.variant === 'string' && config.variant !== '' ? { variant: config.variant } : {}) },
    layers,
    config: fixedConfig(where, (config.rootfs?.diff_ids ?? []) as readonly string[], pulled.config.bytes),
    dispose: async () => {},
  };
}
