import { type Compressor, type Image, saveImage } from '@strata/image';
import { type Command, Option } from 'commander';
import type { CommandContext } from './context.js';
import type { Progress } from './layered/progress.js';

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

/** Writes `image` where the output flags say, with progress on a terminal. */
export async function writeOutput(image: Image, flags: OutputFlags, context: CommandContext, progress: Progress): Promise<void> {
  await saveImage(image, flags.output, {
    compressor: flags.compressor ?? 'gz',
    signal: context.signal,
    onLayer: progress.onLayer,
    through: progress.stages,
  });
}
