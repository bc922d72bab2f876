import { closeSync, createWriteStream, openSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { writeAtomically } from './atomic.js';
import { type Compressor, compressStages } from './compression.js';
import { writeDockerArchive } from './docker-archive.js';
import type { Image } from './image.js';

/** Options for {@link saveImage}. */
export interface SaveImageOptions {
  /** Whole-archive compression, as nixpkgs' `compressor`. @default 'gz' */
  readonly compressor?: Compressor;
  /** mtime of the archive's own members, seconds since the epoch. @default image.mtime, else 1 */
  readonly mtime?: number;
  /** Aborts; the partial file is removed and `file` is left as it was. @default none */
  readonly signal?: AbortSignal;
  /** Told when layer `index` (0-based) starts streaming. @default none */
  readonly onLayer?: (index: number) => void;
  /** Streams the archive passes through before compression (a progress meter). @default [] */
  readonly through?: readonly NodeJS.ReadWriteStream[];
  /**
   * Told how many bytes were written after each write, when the archive writes itself into the file
   * (uncompressed and nothing `through`: see TarStream.writeToFd). @default none
   */
  readonly onProgress?: (bytes: number) => void;
}

/** What {@link saveImage} wrote. */
export interface SavedImage {
  readonly file: string;
  /** The image ID: sha256 of the config bytes. */
  readonly imageId: string;
  readonly repoTags: readonly string[];
}

/**
 * Writes an image to `file` as a docker-archive, compressed as a whole (nixpkgs' buildLayeredImage
 * and buildImage outputs), atomically: the file appears complete or not at all.
 * @example await saveImage(image, 'hello.tar.gz', { compressor: 'gz' });
 */
export async function saveImage(image: Image, file: string, options: SaveImageOptions = {}): Promise<SavedImage> {
  const stages = compressStages(options.compressor ?? 'gz');
  const archive = writeDockerArchive(image, {
    ...(options.mtime === undefined ? {} : { mtime: options.mtime }),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onLayer ? { onLayer: options.onLayer } : {}),
  });
  const through = options.through ?? [];
  await writeAtomically(file, async (temp) => {
    if (stages.length > 0 || through.length > 0) {
      await pipeline([archive, ...through, ...stages, createWriteStream(temp, { flags: 'wx' })], options.signal ? { signal: options.signal } : {});
      return;
    }
    // Uncompressed, the archive writes itself into the file: files are read into one reused buffer,
    // hashed there on a worker thread and written out in large writes (the signal aborts it too).
    const fd = openSync(temp, 'wx');
    try {
      await archive.writeToFd(fd, options.onProgress ? { onProgress: options.onProgress } : {});
    } finally {
      closeSync(fd);
    }
  });
  const { digest } = await archive.config;
  return { file, imageId: digest, repoTags: image.repoTags };
}
