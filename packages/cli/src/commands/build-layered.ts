import { type Compressor, saveImage } from '@strata/image';
import { type Command, Option } from 'commander';
import type { CommandContext } from '../context.js';
import { addLayeredOptions, resolveLayeredSpec } from '../layered/options.js';
import { withLayeredImage } from '../layered/run.js';

/** `strata build-layered -o FILE`: writes a layered image file, compressed as a whole (nixpkgs' buildLayeredImage). */
export function registerBuildLayered(program: Command, context: CommandContext): void {
  const command = program
    .command('build-layered')
    .description('build a layered image file from Nix store closures (docker-archive, compressed as a whole)')
    .requiredOption('-o, --output <file>', 'the image file to write, atomically (required)')
    .addOption(new Option('--compressor <name>', 'whole-archive compression (default: gz)').choices(['none', 'gz', 'zstd']));
  addLayeredOptions(command).action(async (flags: { output: string; compressor?: Compressor }) => {
    const options = await resolveLayeredSpec(command);
    await withLayeredImage(options, context, (image, progress) =>
      saveImage(image, flags.output, {
        compressor: flags.compressor ?? 'gz',
        signal: context.signal,
        onLayer: progress.onLayer,
        through: progress.stages,
      }),
    );
  });
}
