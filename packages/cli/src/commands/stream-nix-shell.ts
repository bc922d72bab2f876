import { streamNixShellImage } from '@strata/dockertools';
import { writeDockerArchive } from '@strata/image';
import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { withBuiltImage } from '../layered/run.js';
import { pipeToStdout } from '../layered/stdout.js';
import { addNixShellOptions, resolveNixShellSpec } from '../nix-shell/options.js';

/** `strata stream-nix-shell DRV`: writes a nix-shell image of a derivation (docker-archive, uncompressed) to stdout, like nixpkgs' streamNixShellImage. */
export function registerStreamNixShell(program: Command, context: CommandContext): void {
  const command = program
    .command('stream-nix-shell')
    .description("stream an image that gives nix-shell for a derivation to stdout (nixpkgs' streamNixShellImage; docker-archive: podman load)");
  addNixShellOptions(command).action(async (drv: string | undefined) => {
    if ((context.stdout as { isTTY?: boolean }).isTTY) throw new CliError('stream-nix-shell: stdout is a terminal; pipe it (| podman load) or redirect it', 'USAGE');
    const options = await resolveNixShellSpec(command, drv);
    await withBuiltImage((run) => streamNixShellImage({ ...options, ...run }), context, (image, progress) =>
      pipeToStdout(writeDockerArchive(image, { signal: context.signal, onLayer: progress.onLayer }), progress.stages, context),
    );
  });
}
