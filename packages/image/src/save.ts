import { closeSync, createWriteStream, openSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { writeAtomically } from './atomic.js';
import type { LayerCacheStore } from './blob.js';
import { type Compressor, compressStages } from './compression.js';
import { writeDockerArchive } from './docker-archive.js';
import { ImageError } from './errors.js';
import type { Image } from './image.js';
import type { LayerCompression } from './layer-compression.js';
import { type OciImageWritten, writeOciArchive, writeOciArchiveToFd } from './oci-archive.js';
import { writeOciLayout } from './oci-layout.js';

/** The file formats {@link saveImage} writes. */
export type ImageFormat = 'docker-archive' | 'oci-archive' | 'oci';

/** Options for {@link saveImage}. */
export interface SaveImageOptions extends LayerCompression {
  /** docker-archive (docker/podman load), oci-archive (a tar of an OCI layout) or oci (an OCI layout directory). @default 'docker-archive' */
  readonly format?: ImageFormat;
  /** Whole-archive compression of a docker-archive, as nixpkgs' `compressor`. @default 'gz' */
  readonly compressor?: Compressor;
  /** Records each layer's compressed digests (OCI formats), for later pushes. @default none */
  readonly cache?: LayerCacheStore;
  readonly onCacheError?: (error: unknown) => void;
  /** mtime of the archive's own members, seconds since the epoch. @default image.mtime, else 1 */
  readonly mtime?: number;
  /** Aborts; the partial output is removed and `file` is left as it was. @default none */
  readonly signal?: AbortSignal;
  /** Told when layer `index` (0-based) starts streaming. @default none */
  readonly onLayer?: (index: number) => void;
  /** Streams an archive passes through before compression (a progress meter). @default [] */
  readonly through?: readonly NodeJS.ReadWriteStream[];
  /**
   * Told how many bytes were written after each write, when the archive writes itself into the file
   * (an uncompressed docker-archive or an oci-archive, with nothing `through`: see TarStream.writeToFd). @default none
   */
  readonly onProgress?: (bytes: number) => void;
}

/** What {@link saveImage} wrote. */
export interface SavedImage {
  readonly file: string;
  /** The image ID: sha256 of the config bytes. */
  readonly imageId: string;
  readonly repoTags: readonly string[];
  /** The manifest digest, for the OCI formats (the image's name in the layout). */
  readonly manifestDigest?: string;
}

function checkOptions(options: SaveImageOptions, format: ImageFormat): void {
  if (format !== 'docker-archive' && options.compressor !== undefined && options.compressor !== 'none') {
    throw new ImageError('INVALID_OPTION', `compressor ${options.compressor}: ${format} output compresses each layer (compression), not the whole file`);
  }
  if (format === 'docker-archive' && options.compression !== undefined && options.compression !== 'none') {
    throw new ImageError('INVALID_OPTION', `compression ${options.compression}: docker-archive layers are uncompressed (as nixpkgs writes them); compress the whole file (compressor), or write oci-archive`);
  }
}

/**
 * Writes an image to `file`, atomically (it appears complete or not at all): a docker-archive
 * compressed as a whole (nixpkgs' buildLayeredImage and buildImage outputs), or an OCI archive or
 * layout directory with each layer compressed as `compression` says.
 * @example
 * await saveImage(image, 'hello.tar.gz', { compressor: 'gz' });
 * await saveImage(image, 'hello-oci', { format: 'oci', compression: 'zstd' });
 */
export async function saveImage(image: Image, file: string, options: SaveImageOptions = {}): Promise<SavedImage> {
  const format = options.format ?? 'docker-archive';
  checkOptions(options, format);
  const common = {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onLayer ? { onLayer: options.onLayer } : {}),
  };
  const layered = {
    ...common,
    ...(options.compression ? { compression: options.compression } : {}),
    ...(options.level === undefined ? {} : { level: options.level }),
    ...(options.cache ? { cache: options.cache } : {}),
    ...(options.onCacheError ? { onCacheError: options.onCacheError } : {}),
  };
  if (format === 'oci') {
    const written = await writeOciLayout(image, file, layered);
    return { file, imageId: written.imageId, repoTags: image.repoTags, manifestDigest: written.manifest.digest };
  }
  const mtime = options.mtime === undefined ? {} : { mtime: options.mtime };
  const through = options.through ?? [];
  const pipelineOptions = options.signal ? { signal: options.signal } : {};
  if (format === 'oci-archive') {
    let written: OciImageWritten;
    if (through.length > 0) {
      const archive = writeOciArchive(image, { ...layered, ...mtime });
      await writeAtomically(file, (temp) => pipeline([archive, ...through, createWriteStream(temp, { flags: 'wx' })], pipelineOptions));
      written = await archive.image;
    } else {
      // As a docker-archive does: the archive writes itself into the file (see writeOciArchiveToFd).
      written = await writeAtomically(file, async (temp) => {
        const fd = openSync(temp, 'wx');
        try {
          return await writeOciArchiveToFd(image, fd, { ...layered, ...mtime, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
        } finally {
          closeSync(fd);
        }
      });
    }
    return { file, imageId: written.imageId, repoTags: image.repoTags, manifestDigest: written.manifest.digest };
  }
  const archive = writeDockerArchive(image, { ...common, ...mtime });
  const stages = compressStages(options.compressor ?? 'gz');
  await writeAtomically(file, async (temp) => {
    if (stages.length > 0 || through.length > 0) {
      await pipeline([archive, ...through, ...stages, createWriteStream(temp, { flags: 'wx' })], pipelineOptions);
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
