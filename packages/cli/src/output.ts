import { type Compressor, type Image, saveImage } from '@strata/image';
import { prepareWriteToFd } from '@strata/layer';
import { type Command, Option } from 'commander';
import type { CommandContext } from './context.js';
import { type Progress, progressCallback } from './layered/progress.js';

/** The flags of a command that writes an image file: `-o FILE` and nixpkgs' `--compressor`. */
export interface OutputFlags {
  readonly output: string;
  readonly compressor?: Compressor;
}

/** Adds `-o/--output` and `--compressor` to a command that writes an image file (build-layered, build-image, ...). */
export function addOutputOptions(command: Command): Command {
  return command
    .requiredOption('-o, --output <file>', 'the image file to write, atomically (required)')
    .addOption(new Option('--compressor <name>', 'whole-archive compression (default: gz)').choices(['none', 'gz', 'zstd']));
}

/** Call before building the image: an uncompressed image file is written on a hash thread, which starts meanwhile. */
export function prepareOutput(flags: OutputFlags): void {
  if (flags.compressor === 'none') void prepareWriteToFd();
}

/** Writes `image` where the output flags say, with progress on a terminal. */
export async function writeOutput(image: Image, flags: OutputFlags, context: CommandContext, progress: Progress): Promise<void> {
  const compressor = flags.compressor ?? 'gz';
  // Uncompressed, the archive writes itself into the file: progress counts its writes, no stage.
  const onProgress = compressor === 'none' ? progressCallback(progress.stages) : null;
  await saveImage(image, flags.output, {
    compressor,
    signal: context.signal,
    onLayer: progress.onLayer,
    ...(onProgress === null ? { through: progress.stages } : onProgress ? { onProgress } : {}),
  });
}
