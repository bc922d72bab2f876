import { writeDockerArchive } from '@strata/image';
import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { addLayeredOptions, resolveLayeredSpec } from '../layered/options.js';
import { withLayeredImage } from '../layered/run.js';
import { pipeToStdout, prepareStdout } from '../layered/stdout.js';

/** `strata stream-layered`: writes a layered image (docker-archive, uncompressed) to stdout, like nixpkgs' streamLayeredImage script. */
export function registerStreamLayered(program: Command, context: CommandContext): void {
  const command = program
    .command('stream-layered')
    .description('stream a layered image from Nix store closures to stdout (docker-archive; podman load, skopeo, docker load)');
  addLayeredOptions(command).action(async () => {
    if ((context.stdout as { isTTY?: boolean }).isTTY) throw new CliError('stream-layered: stdout is a terminal; pipe it (| podman load) or redirect it', 'USAGE');
    prepareStdout(context);
    const options = await resolveLayeredSpec(command);
    await withLayeredImage(options, context, (image, progress) =>
      pipeToStdout(writeDockerArchive(image, { signal: context.signal, onLayer: progress.onLayer }), progress.stages, context),
    );
  });
}
