import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { type ArchiveLayer, type MultiImageArchiveStream, writeMultiImageArchive as writeArchive } from '@strata/manifest';
import { writeAtomically } from './atomic.js';
import { type Compressor, compressStages } from './compression.js';
import type { WriteDockerArchiveOptions } from './docker-archive.js';
import type { Image } from './image.js';
import type { Layer } from './layer.js';
import type { SavedImage, SaveImageOptions } from './save.js';

/**
 * The docker-archive sink for several images in one file (`podman load` / `docker load` load them
 * all, each with its RepoTags; an untagged one loads by its ID): a layer that several images share
 * (the same value, or the same diffID) is stored and read once. `onLayer` is told the index of the
 * stored layer. For one image whose layers are distinct, the bytes are writeDockerArchive's.
 * @example
 * const [app, base] = [await readImage('app.tar'), await readImage('base.tar')];
 * await pipeline(writeMultiImageArchive([app, base]), createWriteStream('both.tar'));
 */
export function writeMultiImageArchive(images: readonly Image[], options: WriteDockerArchiveOptions = {}): MultiImageArchiveStream {
  const stored = new Map<Layer, ArchiveLayer>();
  let next = 0;
  const archiveLayer = (layer: Layer): ArchiveLayer => {
    let wrapped = stored.get(layer);
    if (wrapped === undefined) {
      const index = next++;
      wrapped = {
        size: layer.size,
        ...(layer.diffId === undefined ? {} : { diffId: layer.diffId }),
        open: () => {
          options.onLayer?.(index);
          return layer.open();
        },
      };
      stored.set(layer, wrapped);
    }
    return wrapped;
  };
  const entries = images.map((image) => ({ layers: image.layers.map(archiveLayer), config: (ids: readonly string[]) => image.config(ids), repoTags: image.repoTags }));
  return writeArchive(entries, {
    mtime: options.mtime ?? images[0]?.mtime ?? 1,
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

/**
 * Writes several images to `file` as one docker-archive (nixpkgs' `mergeImages` output), compressed as
 * a whole, atomically. Resolves with what each image was saved as, in order.
 * @example await saveImages([app, base], 'merged.tar', { compressor: 'none' });
 */
export async function saveImages(images: readonly Image[], file: string, options: SaveImageOptions = {}): Promise<SavedImage[]> {
  const compressor: Compressor = options.compressor ?? 'gz';
  const archive = writeMultiImageArchive(images, {
    ...(options.mtime === undefined ? {} : { mtime: options.mtime }),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onLayer ? { onLayer: options.onLayer } : {}),
  });
  await writeAtomically(file, (temp) =>
    pipeline([archive, ...(options.through ?? []), ...compressStages(compressor), createWriteStream(temp, { flags: 'wx' })], options.signal ? { signal: options.signal } : {}),
  );
  const configs = await archive.configs;
  return images.map((image, i) => ({ file, imageId: configs[i]!.digest, repoTags: image.repoTags }));
}
