import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { unpackImage } from '@strata/image';
import { packLayer, scanDirectoryLayer, type TarStream } from '@strata/layer';
import { type FromImageOptions, readFromImage } from './_archive-file.js';
import { DockerToolsError } from './errors.js';

/** nixpkgs' `exportImage` arguments, plus where to work and how to stop. */
export interface ExportImageOptions extends FromImageOptions {
  /**
   * nixpkgs' VM disk size in MiB. strata needs no VM; the image is unpacked into a directory under
   * `tmpDir`, and `diskSize`, when given, bounds the file content it may write there (a hostile or
   * huge image then fails with `LIMIT_EXCEEDED` instead of filling the host's disk). @default unbounded
   */
  readonly diskSize?: number;
  /** nixpkgs names the output after it; here it names the image in messages. @default the file's name, or 'image' */
  readonly name?: string;
  /** Where the filesystem is unpacked meanwhile (it needs room for the image's files). @default os.tmpdir() */
  readonly tmpDir?: string;
  /** Cancels unpacking and streaming; the working directory is removed. @default none */
  readonly signal?: AbortSignal;
}

/** An image's filesystem, flattened and ready to stream as one tar. */
export interface ExportedImage {
  /** Exact byte length of the tar, known before its first byte. */
  readonly size: number;
  /** How many entries the tar holds (`./` included). */
  readonly entries: number;
  /** Streams the tar (uncompressed; `digest` resolves after the last byte). Each call reads the unpacked files again. */
  open(): TarStream;
  /** Removes the unpacked filesystem. Idempotent. */
  dispose(): Promise<void>;
}

/** nixpkgs' `--mtime=@SOURCE_DATE_EPOCH` for every entry of the export. */
const EXPORT_MTIME = 315532800;

function maxBytes(diskSize: number | undefined): number | undefined {
  if (diskSize === undefined) return undefined;
  if (!(Number.isFinite(diskSize) && diskSize > 0)) throw new DockerToolsError('INVALID_OPTION', `options.diskSize: must be a number of MiB > 0, got ${diskSize}`);
  return diskSize * 2 ** 20;
}

/**
 * nixpkgs' `exportImage`: the image's filesystem flattened into ONE uncompressed tar, as the merged
 * view of its layers (whiteouts and opaque directories applied, no `.wh.` entry left), named as GNU
 * tar names a directory's contents (`./`, `./bin/`, `./bin/bash`), sorted by name, mtime 1980-01-01,
 * owners and modes as the image says (numeric ids, the names the layers gave), hard links as regular
 * files (nixpkgs' `--hard-dereference`). Same image, same bytes. No VM: the layers are unpacked
 * unprivileged into a working directory (see `unpackImage`), each read once and checked against
 * its diffID, before this resolves; call `dispose()` when done.
 * @example
 * const exported = await exportImage({ fromImage: 'redis.tar', fromImageName: 'redis', fromImageTag: 'latest' });
 * try {
 *   await pipeline(exported.open(), createWriteStream('rootfs.tar'));   // podman import rootfs.tar
 * } finally {
 *   await exported.dispose();
 * }
 */
export async function exportImage(options: ExportImageOptions): Promise<ExportedImage> {
  const bound = maxBytes(options.diskSize);
  const { signal } = options;
  const work = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'strata-export-'));
  const dispose = () => rm(work, { recursive: true, force: true });
  try {
    const image = await readFromImage(options, work, signal);
    const rootfs = join(work, 'rootfs');
    const name = options.name ?? (typeof options.fromImage === 'string' ? basename(options.fromImage) : 'image');
    const tree = await unpackImage(image, rootfs, { name, ...(bound === undefined ? {} : { maxBytes: bound }), ...(signal ? { signal } : {}) });
    const plan = await scanDirectoryLayer(rootfs, { mtime: EXPORT_MTIME, overrides: tree.entries });
    return {
      size: plan.size,
      entries: plan.entries.length,
      open: () => packLayer(plan, signal ? { signal } : {}),
      dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}
