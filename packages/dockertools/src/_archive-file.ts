import { open } from 'node:fs/promises';
import { archivedImage, type Compressor, type Image, ImageError } from '@strata/image';
import { type Compression, detectCompression, readDockerArchive } from '@strata/manifest';
import { DockerToolsError } from './errors.js';

/** nixpkgs' compressor name for a whole-file compression. */
export const COMPRESSOR_OF: Readonly<Record<Compression, Compressor>> = { none: 'none', gzip: 'gz', zstd: 'zstd' };

/** How `file` is compressed as a whole, or undefined when it cannot be read (readDockerArchive then says why, naming it). */
export async function fileCompression(file: string): Promise<Compression | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const head = Buffer.alloc(4);
    await handle.read(head, 0, 4, 0);
    return detectCompression(head);
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

/** The images of an archive file, and what releases the decompressed copy they are read from. */
export interface ArchiveImages {
  readonly images: Image[];
  /** Releases the archive's decompressed copy (a compressed file's); its images cannot be read afterwards. Idempotent. */
  close(): Promise<void>;
}

/**
 * Every image of a docker-archive file (plain, gz or zstd), each a lazy Image named after `file` in
 * messages. A file compressed as a whole is decompressed once, into an unnamed file in `tmpDir`, so
 * its layers are read by offset (as nixpkgs unpacks its inputs first) rather than decompressed again
 * from the start for each layer.
 */
export async function readArchiveImages(file: string, tmpDir: string, signal?: AbortSignal): Promise<ArchiveImages> {
  const archive = await readDockerArchive(file, { tmpDir, ...(signal ? { signal } : {}) });
  try {
    if (archive.images.length === 0) throw new ImageError('INVALID_IMAGE', `${file}: manifest.json lists no image`);
    return { images: archive.images.map((image) => archivedImage(file, image)), close: () => archive.close() };
  } catch (error) {
    await archive.close();
    throw error;
  }
}

/** nixpkgs' `fromImage`, `fromImageName`, `fromImageTag`. */
export interface FromImageOptions {
  /** A docker-archive file (plain, gz or zstd), or an image value. */
  readonly fromImage: string | Image;
  /** Which image of a multi-image archive, by repository name; only with `fromImageTag`. @default the first image */
  readonly fromImageName?: string;
  /** The tag to go with `fromImageName`. @default the first image */
  readonly fromImageTag?: string;
}

/**
 * The image `fromImage` names. nixpkgs uses `fromImageName`/`fromImageTag` only when both are set
 * and silently takes the first image otherwise; strata refuses one without the other, which would
 * select an image the user did not ask for.
 */
export async function readFromImage(options: FromImageOptions, tmpDir: string, signal?: AbortSignal): Promise<{ image: Image; close(): Promise<void> }> {
  const { fromImage, fromImageName: name, fromImageTag: tag } = options;
  if ((name === undefined) !== (tag === undefined)) {
    throw new DockerToolsError('INVALID_OPTION', `options.${name === undefined ? 'fromImageName' : 'fromImageTag'}: required with ${name === undefined ? 'fromImageTag' : 'fromImageName'} (an image is selected by both)`);
  }
  if (typeof fromImage !== 'string') {
    if (name !== undefined) throw new DockerToolsError('INVALID_OPTION', 'options.fromImageName: selects an image of an archive file, but fromImage is an image value');
    if (typeof fromImage !== 'object' || fromImage === null || !Array.isArray(fromImage.layers)) throw new DockerToolsError('INVALID_OPTION', 'options.fromImage: required, a docker-archive file or an image');
    return { image: fromImage, close: async () => {} };
  }
  const { images, close } = await readArchiveImages(fromImage, tmpDir, signal);
  if (name === undefined) return { image: images[0]!, close };
  const wanted = `${name}:${tag}`;
  const found = images.find((image) => image.repoTags.includes(wanted));
  if (found) return { image: found, close };
  await close();
  const available = images.flatMap((image) => image.repoTags);
  throw new ImageError('INVALID_IMAGE', `${fromImage}: no image ${wanted} (the archive has ${available.length > 0 ? available.join(', ') : 'only untagged images'})`);
}
