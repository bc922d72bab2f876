import { streamNixShellImage } from '@strata/dockertools';
import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { withBuiltImage } from '../layered/run.js';
import { addNixShellOptions, resolveNixShellSpec } from '../nix-shell/options.js';
import { addOutputOptions, type OutputFlags, writeOutput } from '../output.js';

/** `strata build-nix-shell DRV -o FILE`: writes a nix-shell image file, compressed as a whole (nixpkgs' buildNixShellImage). */
export function registerBuildNixShell(program: Command, context: CommandContext): void {
  const command = program
    .command('build-nix-shell')
    .description("build an image file that gives nix-shell for a derivation (nixpkgs' buildNixShellImage; docker-archive, compressed as a whole)");
  addOutputOptions(command);
  addNixShellOptions(command).action(async (drv: string | undefined, flags: OutputFlags) => {
    const options = await resolveNixShellSpec(command, drv);
    await withBuiltImage((run) => streamNixShellImage({ ...options, ...run }), context, (image, progress) => writeOutput(image, flags, context, progress));
  });
}
