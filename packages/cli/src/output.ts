import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type Compressor, type Image, saveImage } from '@strata/image';
import { type Command, Option } from 'commander';
import type { CommandContext } from './context.js';
import type { Progress } from './layered/progress.js';
import { addReportOptions, type ReportFlags } from './report.js';

/** The flags of a command that writes an image file: `-o FILE`, nixpkgs' `--compressor`, `--quiet` and `--json`. */
export interface OutputFlags extends ReportFlags {
  readonly output: string;
  readonly compressor?: Compressor;
}

/** Adds `-o/--output`, `--compressor`, `--quiet` and `--json` to a command that writes an image file (build-layered, build-image, ...). */
export function addOutputOptions(command: Command): Command {
  command
    .requiredOption('-o, --output <file>', 'the image file to write, atomically (required)')
    .addOption(new Option('--compressor <name>', 'whole-archive compression (default: gz)').choices(['none', 'gz', 'zstd']));
  return addReportOptions(command, 'print what was written as JSON on stdout: {file, size, imageId, repoTags, layers: [{diffId, size}]}');
}

/** What `--json` says about an image file a command wrote. */
export interface ImageFileReport {
  readonly file: string;
  readonly size: number;
  readonly imageId: string;
  readonly repoTags: readonly string[];
  readonly layers: readonly { readonly diffId: string | undefined; readonly size: number }[];
}

/** Writes `image` where the output flags say, with progress on a terminal, and says what it wrote. */
export async function writeOutput(image: Image, flags: OutputFlags, context: CommandContext, progress: Progress): Promise<ImageFileReport> {
  const file = resolve(flags.output);
  const saved = await saveImage(image, file, {
    compressor: flags.compressor ?? 'gz',
    signal: context.signal,
    onLayer: progress.onLayer,
    through: progress.stages,
  });
  // Every layer has passed through the sink, so each knows its diffID now.
  const layers = image.layers.map((l) => ({ diffId: l.diffId, size: l.size }));
  return { file, size: (await stat(file)).size, imageId: saved.imageId, repoTags: saved.repoTags, layers };
}
