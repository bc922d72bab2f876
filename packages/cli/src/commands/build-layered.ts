import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { addLayeredOptions, resolveLayeredSpec } from '../layered/options.js';
import { withLayeredImage } from '../layered/run.js';
import { addOutputOptions, type OutputFlags, prepareOutput, writeOutput } from '../output.js';

/** `strata build-layered -o FILE`: writes a layered image file, compressed as a whole (nixpkgs' buildLayeredImage). */
export function registerBuildLayered(program: Command, context: CommandContext): void {
  const command = program
    .command('build-layered')
    .description('build a layered image file from Nix store closures (docker-archive, compressed as a whole)');
  addOutputOptions(command);
  addLayeredOptions(command).action(async (flags: OutputFlags) => {
    prepareOutput(flags);
    const options = await resolveLayeredSpec(command);
    await withLayeredImage(options, context, (image, progress) => writeOutput(image, flags, context, progress));
  });
}
