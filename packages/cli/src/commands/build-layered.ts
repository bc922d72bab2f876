import { type Command, Option } from 'commander';
import { writeAtomically } from '../atomic.js';
import type { CommandContext } from '../context.js';
import { type Compressor, compressStages } from '../compress.js';
import { addLayeredOptions, resolveLayeredSpec } from '../layered/options.js';
import { prepareArchiveFile, writeArchiveFile } from '../layered/output-file.js';
import { withLayeredImage } from '../layered/run.js';

/** `strata build-layered -o FILE`: writes a layered image file, compressed as a whole (nixpkgs' buildLayeredImage). */
export function registerBuildLayered(program: Command, context: CommandContext): void {
  const command = program
    .command('build-layered')
    .description('build a layered image file from Nix store closures (docker-archive, compressed as a whole)')
    .requiredOption('-o, --output <file>', 'the image file to write, atomically (required)')
    .addOption(new Option('--compressor <name>', 'whole-archive compression (default: gz)').choices(['none', 'gz', 'zstd']));
  addLayeredOptions(command).action(async (flags: { output: string; compressor?: Compressor }) => {
    const stages = compressStages(flags.compressor ?? 'gz');
    prepareArchiveFile(stages);
    const spec = await resolveLayeredSpec(command);
    await withLayeredImage(spec, context, (image, progress) =>
      writeAtomically(flags.output, (temp) => writeArchiveFile(image.archive, stages, progress, temp, context.signal)),
    );
  });
}
