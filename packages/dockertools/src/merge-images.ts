import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Compressor, Image } from '@strata/image';
import { COMPRESSOR_OF, fileCompression, readArchiveImages } from './_archive-file.js';
import { DockerToolsError } from './errors.js';

/** Options for {@link mergeImages}. */
export interface MergeImagesOptions {
  /** Where compressed inputs are decompressed meanwhile. @default os.tmpdir() */
  readonly tmpDir?: string;
  /** Cancels reading the inputs. @default none */
  readonly signal?: AbortSignal;
}

/** Several images to write as one archive (with `saveImages` or `writeMultiImageArchive` of `@strata/image`). */
export interface MergedImages {
  /** Every image of every input, in input order (an archive's own images in its manifest's order). */
  readonly images: readonly Image[];
  /**
   * The compression nixpkgs gives the merged archive: the last input's (`none`, `gz` or `zstd`);
   * `gz`, the builders' default, when the last input is an image value.
   */
  readonly compressor: Compressor;
  /** Removes decompressed copies of the inputs and disposes image values. Idempotent. */
  dispose(): Promise<void>;
}

/**
 * nixpkgs' `mergeImages`: the images of several docker-archives (plain, gz or zstd; each may hold
 * several images) or image values, to be written as ONE docker-archive in which `podman load` /
 * `docker load` find every image with its RepoTags, and layers shared by digest are stored once.
 * An input compressed as a whole is decompressed once into a working directory first (as nixpkgs
 * unpacks its inputs), so its layers are then read by offset.
 * @example
 * const merged = await mergeImages(['bash.tar.gz', 'redis.tar']);
 * try {
 *   await saveImages(merged.images, 'merged.tar', { compressor: merged.compressor });
 * } finally {
 *   await merged.dispose();
 * }
 */
export async function mergeImages(inputs: readonly (string | Image)[], options: MergeImagesOptions = {}): Promise<MergedImages> {
  if (!Array.isArray(inputs) || inputs.length === 0) throw new DockerToolsError('INVALID_OPTION', 'images: at least one image to merge');
  const work = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'strata-merge-'));
  let disposed = false;
  const dispose = async () => {
    if (disposed) return;
    disposed = true;
    for (const input of inputs) if (typeof input !== 'string') await input.dispose();
    await rm(work, { recursive: true, force: true });
  };
  try {
    const images: Image[] = [];
    for (const input of inputs) {
      if (typeof input === 'string') images.push(...(await readArchiveImages(input, work, options.signal)));
      else images.push(input);
    }
    const last = inputs.at(-1)!;
    const compression = typeof last === 'string' ? await fileCompression(last) : undefined;
    return { images, compressor: compression === undefined ? 'gz' : COMPRESSOR_OF[compression], dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}
