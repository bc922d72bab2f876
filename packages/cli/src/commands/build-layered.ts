import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { type Command, Option } from 'commander';
import { writeAtomically } from '../atomic.js';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { addLayeredOptions, resolveLayeredSpec } from '../layered/options.js';
import { withLayeredImage } from '../layered/run.js';

type Compressor = 'none' | 'gz' | 'zstd';

function compressStage(compressor: Compressor): NodeJS.ReadWriteStream[] {
  if (compressor === 'none') return [];
  // Node's gzip writes no name and mtime 0, so the output is reproducible like pigz -n.
  if (compressor === 'gz') return [zlib.createGzip({ level: 6 })];
  const create = (zlib as unknown as { createZstdCompress?: () => NodeJS.ReadWriteStream }).createZstdCompress;
  if (!create) throw new CliError(`--compressor zstd: this Node (${process.version}) has no zstd; it needs Node >= 22.15, or use gz or none`);
  return [create()];
}

/** `strata build-layered -o FILE`: writes a layered image file, compressed as a whole (nixpkgs' buildLayeredImage). */
export function registerBuildLayered(program: Command, context: CommandContext): void {
  const command = program
    .command('build-layered')
    .description('build a layered image file from Nix store closures (docker-archive, compressed as a whole)')
    .requiredOption('-o, --output <file>', 'the image file to write, atomically (required)')
    .addOption(new Option('--compressor <name>', 'whole-archive compression (default: gz)').choices(['none', 'gz', 'zstd']));
  addLayeredOptions(command).action(async (flags: { output: string; compressor?: Compressor }) => {
    const stages = compressStage(flags.compressor ?? 'gz');
    const spec = await resolveLayeredSpec(command);
    await withLayeredImage(spec, context, (image, progress) =>
      writeAtomically(flags.output, (temp) =>
        pipeline([image.archive, ...progress.stages, ...stages, createWriteStream(temp, { flags: 'wx' })], { signal: context.signal }),
      ),
    );
  });
}
