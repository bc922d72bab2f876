import { type Image, type OciImageSource, readImage, readOciImage, registryImage } from '@strata/image';
import { formatReference, type Platform, pullImage, type Reference, type RegistryClientOptions } from '@strata/registry';
import { imageOf } from './commands/push.js';
import type { CommandContext } from './context.js';
import type { ImageLocation } from './image-location.js';

/** How to open a source: the registry client options and the platform to pick from an index. */
export interface OpenImageOptions {
  readonly registry: RegistryClientOptions;
  /** @default the host's */
  readonly platform?: Platform;
}

/** The `name:tag` a registry image is named by in an archive: its full reference. */
export function repoTagOf(reference: Reference): string {
  return formatReference({ registry: reference.registry, repository: reference.repository, tag: reference.tag ?? 'latest' });
}

/** `NAME[:TAG]` as readImage's name and tag (the tag after the last colon that is not part of a registry host). */
export function nameAndTag(name: string): { name: string; tag: string } {
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? { name: name.slice(0, colon), tag: name.slice(colon + 1) } : { name, tag: 'latest' };
}

/** Opens a source as a lazy image (nothing read but indexes, manifests and configs). Dispose of it when done. */
export async function openImage(location: ImageLocation, context: CommandContext, options: OpenImageOptions): Promise<Image> {
  switch (location.kind) {
    case 'registry': {
      const pulled = await pullImage(location.reference, { ...options.registry, ...(options.platform ? { platform: options.platform } : {}), signal: context.signal });
      return registryImage(pulled, { repoTags: [repoTagOf(location.reference)] });
    }
    case 'docker-archive':
      return readImage(location.path, location.name ? nameAndTag(location.name) : {});
    case 'spec':
      return imageOf(location.path, context);
    case 'oci':
    case 'oci-archive':
      return (await openOci(location, options.platform)).image;
  }
}

/** An image of an OCI layout (directory or archive) with the manifest it was read through. */
export function openOci(location: Extract<ImageLocation, { kind: 'oci' | 'oci-archive' }>, platform?: Platform): Promise<OciImageSource> {
  return readOciImage(location.path, { ...(location.name ? { name: location.name } : {}), ...(platform ? { platform } : {}) });
}
