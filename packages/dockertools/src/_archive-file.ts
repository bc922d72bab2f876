import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { archivedImage, type Compressor, decompressor, type Image, ImageError } from '@strata/image';
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

/**
 * A docker-archive whose layers can be read by offset. A file compressed as a whole is decompressed
 * once into `workDir`: reading its layers from the compressed file would decompress it again from
 * the start for every layer (what nixpkgs does too: it unpacks its inputs first).
 */
async function plainArchive(file: string, workDir: string, signal?: AbortSignal): Promise<string> {
  const compression = await fileCompression(file);
  if (compression === undefined || compression === 'none') return file;
  const plain = join(workDir, `${randomBytes(4).toString('hex')}-${basename(file)}.tar`);
  try {
    await pipeline(createReadStream(file), decompressor(compression), createWriteStream(plain, { flags: 'wx' }), signal ? { signal } : {});
  } catch (error) {
    if ((error as Error).name === 'AbortError' || (error as NodeJS.ErrnoException).syscall !== undefined) throw error;
    throw new ImageError('INVALID_IMAGE', `${file}: cannot decompress (${compression}): ${(error as Error).message}`, { cause: error });
  }
  return plain;
}

/** Messages about the decompressed copy name the file the user gave. */
function naming<T>(plain: string, file: string, read: () => Promise<T>): Promise<T> {
  if (plain === file) return read();
  return read().catch((error: unknown) => {
    if (error instanceof Error) error.message = error.message.replaceAll(plain, file);
    throw error;
  });
}

/** Every image of a docker-archive file (plain, gz or zstd), each a lazy Image named after `file` in messages. */
export async function readArchiveImages(file: string, workDir: string, signal?: AbortSignal): Promise<Image[]> {
  const plain = await plainArchive(file, workDir, signal);
  const archive = await naming(plain, file, () => readDockerArchive(plain));
  if (archive.images.length === 0) throw new ImageError('INVALID_IMAGE', `${file}: manifest.json lists no image`);
  return archive.images.map((image) => archivedImage(file, image));
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
export async function readFromImage(options: FromImageOptions, workDir: string, signal?: AbortSignal): Promise<Image> {
  const { fromImage, fromImageName: name, fromImageTag: tag } = options;
  if ((name === undefined) !== (tag === undefined)) {
    throw new DockerToolsError('INVALID_OPTION', `options.${name === undefined ? 'fromImageName' : 'fromImageTag'}: required with ${name === undefined ? 'fromImageTag' : 'fromImageName'} (an image is selected by both)`);
  }
  if (typeof fromImage !== 'string') {
    if (name !== undefined) throw new DockerToolsError('INVALID_OPTION', 'options.fromImageName: selects an image of an archive file, but fromImage is an image value');
    if (typeof fromImage !== 'object' || fromImage === null || !Array.isArray(fromImage.layers)) throw new DockerToolsError('INVALID_OPTION', 'options.fromImage: required, a docker-archive file or an image');
    return fromImage;
  }
  const images = await readArchiveImages(fromImage, workDir, signal);
  if (name === undefined) return images[0]!;
  const wanted = `${name}:${tag}`;
  const found = images.find((image) => image.repoTags.includes(wanted));
  if (found) return found;
  const available = images.flatMap((image) => image.repoTags);
  throw new ImageError('INVALID_IMAGE', `${fromImage}: no image ${wanted} (the archive has ${available.length > 0 ? available.join(', ') : 'only untagged images'})`);
}
