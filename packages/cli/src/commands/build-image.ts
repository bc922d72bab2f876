import { buildImage } from '@strata/dockertools';
import type { Command } from 'commander';
import { addBuildImageOptions, resolveBuildImageSpec } from '../build-image/options.js';
import type { CommandContext } from '../context.js';
import { closureCache } from '../layer-options.js';
import { withBuiltImage } from '../layered/run.js';
import { addOutputOptions, checkOutputFlags, checkOutputPath, type OutputFlags, writeOutput } from '../output.js';
import { createReporter } from '../report.js';

/** `strata build-image -o FILE`: nixpkgs' buildImage, written as a docker-archive compressed as a whole, or an OCI archive or layout. */
export function registerBuildImage(program: Command, context: CommandContext): void {
  const command = program
    .command('build-image')
    .description("build an image file as nixpkgs' buildImage does: a base image's layers plus one layer with copyToRoot at / and the store paths it needs");
  addOutputOptions(command);
  addBuildImageOptions(command).action(async (flags: OutputFlags) => {
    checkOutputFlags(flags);
    const report = createReporter(flags, context);
    const options = { ...(await resolveBuildImageSpec(command)), ...closureCache(flags) };
    await checkOutputPath(flags.output, '-o', flags.format);
    report.result(
      await withBuiltImage((run) => buildImage({ ...options, ...run }), report.context, (image, progress) => writeOutput(image, flags, report.context, progress)),
    );
  });
}
