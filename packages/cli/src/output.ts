import { type Compressor, type Image, type ImageFormat, saveImage } from '@strata/image';
import { type Command, Option } from 'commander';
import type { CommandContext } from './context.js';
import { CliError } from './errors.js';
import type { Progress } from './layered/progress.js';
import { addLayerOptions, type LayerFlags, layerCache, layerCompression } from './layer-options.js';

/** The flags of a command that writes an image file: `-o FILE`, `--format`, nixpkgs' `--compressor`, and layer compression for OCI output. */
export interface OutputFlags extends LayerFlags {
  readonly output: string;
  readonly format?: ImageFormat;
  readonly compressor?: Compressor;
}

/** Adds `-o/--output`, `--format`, `--compressor`, `--compression[-level]` and `--no-cache` to a command that writes an image file (build-layered, build-image, ...). */
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
  return addLayerOptions(command, 'none; OCI formats only');
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

/** Writes `image` where the output flags say, with progress on a terminal. */
export async function writeOutput(image: Image, flags: OutputFlags, context: CommandContext, progress: Progress): Promise<void> {
  checkOutputFlags(flags);
  const format = flags.format ?? 'docker-archive';
  await saveImage(image, flags.output, {
    format,
    ...(format === 'docker-archive' ? { compressor: flags.compressor ?? 'gz' } : { ...layerCompression(flags, 'none'), ...layerCache(flags, context) }),
    signal: context.signal,
    onLayer: progress.onLayer,
    through: progress.stages,
  });
}
