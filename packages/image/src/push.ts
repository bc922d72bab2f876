import {
  type Descriptor,
  type ImageSource,
  type LayerSource,
  MediaType,
  type PushedImage,
  type PushImageOptions as RegistryPushOptions,
  pushImage as pushToRegistry,
  type Reference,
} from '@strata/registry';
import type { Compression } from './compression.js';
import type { Image } from './image.js';

/** Options for {@link pushImage}: those of `@strata/registry`'s pushImage (concurrency, tags, credentials, progress, signal...). */
export type PushImageOptions = RegistryPushOptions;

/** Layer and config media types: Docker schema 2, unless a zstd layer forces OCI (zstd is OCI-only). */
export function mediaTypesFor(compressions: readonly Compression[]): { layer(c: Compression): string; config: string } {
  const oci = compressions.includes('zstd');
  const layer = (c: Compression) =>
    c === 'zstd' ? MediaType.ociLayerZstd : c === 'gzip' ? (oci ? MediaType.ociLayerGzip : MediaType.dockerLayerGzip) : oci ? MediaType.ociLayer : MediaType.dockerLayer;
  return { layer, config: oci ? MediaType.ociConfig : MediaType.dockerConfig };
}

/**
 * The registry sink: pushes an image's layers in parallel (a layer whose digest is known is
 * HEAD-checked and skipped when present; one of unknown digest streams straight into its upload,
 * read and hashed once), then the config, computed from the diffIDs learnt, then the manifest.
 * @example
 * const image = await streamLayeredImage({ name: 'hello', contents: [hello] });
 * try {
 *   const pushed = await pushImage(image, '127.0.0.1:5000/hello:1', { concurrency: 4 });
 *   console.log(pushed.reference);
 * } finally {
 *   await image.dispose();
 * }
 */
export async function pushImage(image: Image, reference: string | Reference, options: PushImageOptions = {}): Promise<PushedImage> {
  const types = mediaTypesFor(image.layers.map((l) => l.compression));
  const diffIds: (string | Promise<string> | undefined)[] = image.layers.map((l) => l.diffId);
  const layers = image.layers.map(
    (layer, i): LayerSource => ({
      mediaType: types.layer(layer.compression),
      size: layer.size,
      ...(layer.digest === undefined ? {} : { digest: layer.digest }),
      open: () => {
        const stream = layer.open();
        diffIds[i] = stream.diffId;
        return stream;
      },
    }),
  );
  const source: ImageSource = {
    layers,
    config: async (_uploaded: readonly Descriptor[]) => ({ bytes: image.config(await Promise.all(diffIds.map((d, i) => d ?? missing(i)))), mediaType: types.config }),
  };
  return pushToRegistry(reference, source, options);
}

function missing(index: number): never {
  throw new Error(`pushImage: layer ${index + 1} was neither known nor read`);
}
