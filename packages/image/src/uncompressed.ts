import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import pLimit from 'p-limit';
import { decompressor } from './compression.js';
import type { Image } from './image.js';
import { createLayer, type Layer } from './layer.js';

/** Options for {@link uncompressedImage}. */
export interface UncompressedImageOptions {
  /** Where the uncompressed layers wait (a new directory is made in it, removed by `dispose()`). @default os.tmpdir() */
  readonly directory?: string;
  /** Layers decompressed at once (each is CPU-bound). @default 2 */
  readonly concurrency?: number;
  /** Told when layer `index` (0-based) has been decompressed, with its size. @default none */
  readonly onLayer?: (index: number, size: number) => void;
  readonly signal?: AbortSignal;
}

/**
 * The image with every layer uncompressed, for sinks that store plain tars and must know their
 * sizes before the first byte (a docker-archive, as nixpkgs and skopeo write it). Compressed layers
 * are read once now (verified against their digest and diffID on the way) into files in a new
 * temporary directory; plain ones are left as they are. `dispose()` removes the files, then
 * disposes of `image`.
 * @example
 * const plain = await uncompressedImage(registryImage(pulled));
 * try { await saveImage(plain, 'app.tar', { compressor: 'none' }); } finally { await plain.dispose(); }
 */
export async function uncompressedImage(image: Image, options: UncompressedImageOptions = {}): Promise<Image> {
  if (image.layers.every((l) => l.compression === 'none')) return image;
  const dir = await mkdtemp(join(options.directory ?? tmpdir(), 'strata-uncompressed-'));
  const limit = pLimit(options.concurrency ?? 2);
  const signal = options.signal ? { signal: options.signal } : {};
  const uncompress = async (layer: Layer, index: number): Promise<Layer> => {
    if (layer.compression === 'none') return layer;
    const file = join(dir, `${index}.tar`);
    const stream = layer.open();
    await pipeline([stream, decompressor(layer.compression), createWriteStream(file, { flags: 'wx' })], signal);
    const diffId = await stream.diffId;
    const { size } = await stat(file);
    options.onLayer?.(index, size);
    return createLayer({ size, diffId, open: () => createReadStream(file, { highWaterMark: 1 << 20 }), name: `layer ${index + 1} (uncompressed)` });
  };
  try {
    // Every layer settles before a failure is thrown: no write may outlive the directory's removal.
    const settled = await Promise.allSettled(image.layers.map((layer, i) => limit(() => uncompress(layer, i))));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    const layers = settled.map((s) => (s as PromiseFulfilledResult<Layer>).value);
    let disposed = false;
    return {
      repoTags: image.repoTags,
      platform: image.platform,
      layers,
      ...(image.mtime === undefined ? {} : { mtime: image.mtime }),
      config: (diffIds) => image.config(diffIds),
      dispose: async () => {
        if (disposed) return;
        disposed = true;
        await rm(dir, { recursive: true, force: true });
        await image.dispose();
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
