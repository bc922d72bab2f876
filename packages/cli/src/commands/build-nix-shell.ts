import { streamNixShellImage } from '@strata/dockertools';
import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { closureCache } from '../layer-options.js';
import { withBuiltImage } from '../layered/run.js';
import { addNixShellOptions, resolveNixShellSpec } from '../nix-shell/options.js';
import { addOutputOptions, checkOutputFlags, checkOutputPath, type OutputFlags, writeOutput } from '../output.js';
import { createReporter } from '../report.js';

/** `strata build-nix-shell DRV -o FILE`: writes a nix-shell image file, compressed as a whole (nixpkgs' buildNixShellImage). */
export function registerBuildNixShell(program: Command, context: CommandContext): void {
  const command = program
    .command('build-nix-shell')
    .description("build an image file that gives nix-shell for a derivation (nixpkgs' buildNixShellImage; docker-archive, compressed as a whole)");
  addOutputOptions(command);
  addNixShellOptions(command).action(async (drv: string | undefined, flags: OutputFlags) => {
    checkOutputFlags(flags);
    const report = createReporter(flags, context);
    const options = { ...(await resolveNixShellSpec(command, drv)), ...closureCache(flags) };
    await checkOutputPath(flags.output, '-o', flags.format);
    const written = await withBuiltImage((run) => streamNixShellImage({ ...options, ...run }), report.context, (image, progress) => writeOutput(image, flags, report.context, progress));
    report.result(written);
  });
}
