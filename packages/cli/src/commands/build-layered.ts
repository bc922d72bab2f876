import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { closureCache } from '../layer-options.js';
import { addLayeredOptions, resolveLayeredSpec } from '../layered/options.js';
import { withLayeredImage } from '../layered/run.js';
import { addOutputOptions, checkOutputFlags, checkOutputPath, type OutputFlags, prepareOutput, writeOutput } from '../output.js';
import { createReporter } from '../report.js';

/** `strata build-layered -o FILE`: writes a layered image file (nixpkgs' buildLayeredImage): a docker-archive compressed as a whole, or an OCI archive or layout. */
export function registerBuildLayered(program: Command, context: CommandContext): void {
  const command = program
    .command('build-layered')
    .description('build a layered image file from Nix store closures (docker-archive compressed as a whole, or oci-archive / oci with compressed layers)');
  addOutputOptions(command);
  addLayeredOptions(command).action(async (flags: OutputFlags) => {
    checkOutputFlags(flags);
    const report = createReporter(flags, context);
    prepareOutput(flags);
    const options = { ...(await resolveLayeredSpec(command)), ...closureCache(flags) };
    await checkOutputPath(flags.output, '-o', flags.format);
    report.result(await withLayeredImage(options, report.context, (image, progress) => writeOutput(image, flags, report.context, progress)));
  });
}
