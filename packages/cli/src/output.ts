import { readdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { type Compressor, type Image, type ImageFormat, saveImage } from '@strata/image';
import { prepareWriteToFd } from '@strata/layer';
import { type Command, Option } from 'commander';
import type { CommandContext } from './context.js';
import { CliError } from './errors.js';
import { type Progress, progressCallback } from './layered/progress.js';
import { addLayerOptions, type LayerFlags, layerCache, layerCompression } from './layer-options.js';
import { addReportOptions, type ReportFlags } from './report.js';

/**
 * The flags of a command that writes an image file: `-o FILE`, `--format`, nixpkgs' `--compressor`,
 * layer compression for OCI output, `--quiet` and `--json`.
 */
export interface OutputFlags extends LayerFlags, ReportFlags {
  readonly output: string;
  readonly format?: ImageFormat;
  readonly compressor?: Compressor;
}

/**
 * Adds `-o/--output`, `--format`, `--compressor`, `--compression[-level]`, `--no-cache`, `--quiet`
 * and `--json` to a command that writes an image file (build-layered, build-image, ...).
 */
export function addOutputOptions(command: Command): Command {
  command
    .requiredOption('-o, --output <file>', 'the image file (a directory for --format oci) to write, atomically (required)')
    .addOption(
      new Option('--format <format>', 'docker-archive (docker/podman load), oci-archive (a tar of an OCI layout) or oci (an OCI layout directory) (default: docker-archive)').choices([
        'docker-archive',
        'oci-archive',
        'oci',
      ]),
    )
    .addOption(new Option('--compressor <name>', 'whole-file compression of a docker-archive (default: gz)').choices(['none', 'gz', 'zstd']));
  addLayerOptions(command, 'none; OCI formats only');
  return addReportOptions(
    command,
    'print what was written as JSON on stdout: {file, format, size, imageId, manifestDigest (OCI formats), repoTags, layers: [{diffId, size}]}',
  );
}

/** Rejects flags that do not fit the format, before anything is built. */
export function checkOutputFlags(flags: Omit<OutputFlags, 'output'>): void {
  const format = flags.format ?? 'docker-archive';
  if (format !== 'docker-archive' && flags.compressor !== undefined) {
    throw new CliError(`--compressor: ${format} output compresses each layer; use --compression`, 'USAGE');
  }
  if (format === 'docker-archive' && (flags.compression !== undefined || flags.compressionLevel !== undefined)) {
    throw new CliError('--compression: docker-archive layers stay uncompressed (as nixpkgs writes them); use --compressor, or --format oci-archive', 'USAGE');
  }
  layerCompression(flags, 'none');
}

/** What `--json` says about an image file (or OCI layout directory) a command wrote. */
export interface ImageFileReport {
  readonly file: string;
  readonly format: ImageFormat;
  /** Bytes of the file, or of every file in a layout directory. */
  readonly size: number;
  readonly imageId: string;
  readonly manifestDigest?: string;
  readonly repoTags: readonly string[];
  readonly layers: readonly { readonly diffId: string | undefined; readonly size: number }[];
}

/** Bytes of a file, or of all the files below a directory. */
async function sizeOf(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  const entries = await readdir(path, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  return (await Promise.all(files.map(async (f) => (await stat(f)).size))).reduce((a, b) => a + b, 0);
}

/**
 * Call before building the image: an uncompressed docker-archive is written on a hash thread,
 * which starts meanwhile.
 */
export function prepareOutput(flags: Omit<OutputFlags, 'output'>): void {
  if ((flags.format ?? 'docker-archive') === 'docker-archive' && flags.compressor === 'none') void prepareWriteToFd();
}

/** Writes `image` where the output flags say, with progress on a terminal, and says what it wrote. */
export async function writeOutput(image: Image, flags: OutputFlags, context: CommandContext, progress: Progress): Promise<ImageFileReport> {
  checkOutputFlags(flags);
  const format = flags.format ?? 'docker-archive';
  const file = resolve(flags.output);
  const compressor = flags.compressor ?? 'gz';
  // An uncompressed docker-archive writes itself into the file: progress counts its writes, no stage.
  const onProgress = format === 'docker-archive' && compressor === 'none' ? progressCallback(progress.stages) : null;
  const saved = await saveImage(image, file, {
    format,
    ...(format === 'docker-archive' ? { compressor } : { ...layerCompression(flags, 'none'), ...layerCache(flags, context) }),
    signal: context.signal,
    onLayer: progress.onLayer,
    ...(onProgress === null ? { through: progress.stages } : onProgress ? { onProgress } : {}),
  });
  // Every layer has passed through the sink, so each knows its diffID now.
  const layers = image.layers.map((l) => ({ diffId: l.diffId, size: l.size }));
  const manifest = saved.manifestDigest === undefined ? {} : { manifestDigest: saved.manifestDigest };
  return { file, format, size: await sizeOf(file), imageId: saved.imageId, ...manifest, repoTags: saved.repoTags, layers };
}

/**
 * Checks, before any work, that `file` can be written atomically: its directory exists, and it is
 * a regular file or does not exist yet (for an OCI layout, `format: 'oci'`, an existing directory:
 * the image is added to it). Renaming over a directory fails only after the whole image was
 * written next to it, and renaming over /dev/null or a pipe would replace it with a file.
 */
export async function checkOutputPath(file: string, flag = '-o', format: ImageFormat = 'docker-archive'): Promise<void> {
  const path = resolve(file);
  const existing = await stat(path).catch(() => undefined);
  const layout = format === 'oci';
  if (existing && !(layout ? existing.isDirectory() : existing.isFile())) {
    const what = existing.isDirectory() ? 'a directory' : layout ? 'not a directory' : 'not a regular file';
    throw new CliError(`${flag} ${file}: is ${what}; give the path of the ${layout ? 'OCI layout directory' : 'file'} to write`);
  }
  const dir = await stat(dirname(path)).catch(() => undefined);
  if (!dir?.isDirectory()) throw new CliError(`${flag} ${file}: the directory ${dirname(path)} does not exist`);
}
