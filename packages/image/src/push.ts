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
import { createLayerBlob, type LayerBlob, type LayerBlobOptions } from './blob.js';
import type { Compression } from './compression.js';
import { ImageError } from './errors.js';
import type { Image } from './image.js';

/** Options for {@link pushImage}: those of `@strata/registry`'s pushImage (concurrency, tags, credentials, progress, signal...), plus how layers are stored. */
export interface PushImageOptions extends RegistryPushOptions, Omit<LayerBlobOptions, 'name' | 'compression'> {
  /** Layer compression in the registry. @default each layer as it is stored (an archive's as they are in the file, a built image's uncompressed) */
  readonly compression?: Compression;
  /**
   * Manifest and media types: Docker schema 2 (`v2s2`, what every registry and the Docker daemon
   * take) or OCI. zstd layers exist only in OCI manifests. @default 'oci' with zstd layers, else 'v2s2'
   */
  readonly format?: 'v2s2' | 'oci';
}

/** Layer and config media types: Docker schema 2, unless a zstd layer (zstd is OCI-only) or `oci` forces OCI. */
export function mediaTypesFor(compressions: readonly Compression[], oci = false): { layer(c: Compression): string; config: string } {
  const isOci = oci || compressions.includes('zstd');
  const layer = (c: Compression) =>
    c === 'zstd' ? MediaType.ociLayerZstd : c === 'gzip' ? (isOci ? MediaType.ociLayerGzip : MediaType.dockerLayerGzip) : isOci ? MediaType.ociLayer : MediaType.dockerLayer;
  return { layer, config: isOci ? MediaType.ociConfig : MediaType.dockerConfig };
}

function blobsOf(image: Image, options: PushImageOptions, onStale: () => void): Promise<LayerBlob[]> {
  return Promise.all(
    image.layers.map((layer, i) =>
      createLayerBlob(layer, {
        ...(options.compression ? { compression: options.compression } : {}),
        ...(options.level === undefined ? {} : { level: options.level }),
        ...(options.cache ? { cache: options.cache } : {}),
        ...(options.onCacheError ? { onCacheError: options.onCacheError } : {}),
        name: `layer ${i + 1}`,
        onStale,
      }),
    ),
  );
}

function push(image: Image, blobs: readonly LayerBlob[], reference: string | Reference, options: PushImageOptions, onLayerError: (error: ImageError) => void): Promise<PushedImage> {
  const types = mediaTypesFor(
    blobs.map((b) => b.compression),
    options.format === 'oci',
  );
  const diffIds: (string | Promise<string> | undefined)[] = blobs.map((b) => b.diffId);
  const layers = blobs.map(
    (blob, i): LayerSource => ({
      mediaType: types.layer(blob.compression),
      ...(blob.size === undefined ? { weight: image.layers[i]!.size } : { size: blob.size }),
      ...(blob.digest === undefined ? {} : { digest: blob.digest }),
      open: () => {
        // Uploads hand each chunk back once the socket has it (@strata/registry's own HTTP client).
        const stream = blob.open({ lend: options.fetch === undefined });
        stream.once('error', (error) => {
          if (error instanceof ImageError) onLayerError(error);
        });
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

/**
 * The registry sink: pushes an image's layers in parallel, compressed as asked (gzip runs on the
 * thread pool, zstd on libzstd's threads), then the config, computed from the diffIDs, then the
 * manifest. A layer whose digest is known (declared, or in the cache) is HEAD-checked and skipped
 * when present; one of unknown digest streams straight into its upload, read, compressed and hashed
 * once. A cache entry is checked by the upload that uses it: one that disagrees with the bytes is
 * removed and the push is made again without it, so a bad cache costs time, never a wrong image.
 * @example
 * const image = await streamLayeredImage({ name: 'hello', contents: [hello] });
 * try {
 *   const pushed = await pushImage(image, '127.0.0.1:5000/hello:1', { compression: 'gzip', cache: new LayerCache() });
 *   console.log(pushed.reference);
 * } finally {
 *   await image.dispose();
 * }
 */
export async function pushImage(image: Image, reference: string | Reference, options: PushImageOptions = {}): Promise<PushedImage> {
  if (options.format === 'v2s2' && options.compression === 'zstd') {
    throw new ImageError('INVALID_OPTION', 'format v2s2 (Docker schema 2) has no zstd layers; push zstd with format oci');
  }
  for (let attempt = 1; ; attempt++) {
    // A wrong cache entry stops this attempt at once (no retries of an upload that cannot succeed).
    const stop = new AbortController();
    const blobs = await blobsOf(image, options, () => stop.abort(new ImageError('DIGEST_MISMATCH', 'a layer cache entry disagreed with the layer')));
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    // A layer that fails its own check (bytes that contradict the declared diffID) reaches the
    // registry client as a broken request body; the push stops at once, rather than retry a body
    // that will fail the same way, and reports the layer's error, which names it.
    let layerError: ImageError | undefined;
    const onLayerError = (error: ImageError) => {
      if (layerError !== undefined) return;
      layerError = error;
      stop.abort(error);
    };
    try {
      return await push(image, blobs, reference, { ...options, signal }, onLayerError);
    } catch (error) {
      if (attempt > 1 || !blobs.some((b) => b.stale) || options.signal?.aborted) throw layerError ?? error;
      // The wrong entries are gone: the layers they named are read, hashed and uploaded this time.
    }
  }
}

function missing(index: number): never {
  throw new Error(`pushImage: layer ${index + 1} was neither known nor read`);
}
