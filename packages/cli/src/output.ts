import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type Compressor, type Image, saveImage } from '@strata/image';
import { type Command, Option } from 'commander';
import type { CommandContext } from './context.js';
import { CliError } from './errors.js';
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

/**
 * Checks, before any work, that `file` can be written atomically: its directory exists, and it is
 * a regular file or does not exist yet. Renaming over a directory fails only after the whole image
 * was written (next to it), and renaming over /dev/null or a pipe would replace it with a file.
 */
export async function checkOutputPath(file: string, flag = '-o'): Promise<void> {
  const path = resolve(file);
  const existing = await stat(path).catch(() => undefined);
  if (existing && !existing.isFile()) throw new CliError(`${flag} ${file}: is ${existing.isDirectory() ? 'a directory' : 'not a regular file'}; give the path of the file to write`);
  const dir = await stat(dirname(path)).catch(() => undefined);
  if (!dir?.isDirectory()) throw new CliError(`${flag} ${file}: the directory ${dirname(path)} does not exist`);
}
