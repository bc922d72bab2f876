import { Command } from 'commander';
import { registerBuildImage } from './commands/build-image.js';
import { registerBuildLayered } from './commands/build-layered.js';
import { registerCache } from './commands/cache.js';
import { registerBuildNixShell } from './commands/build-nix-shell.js';
import { registerClosure } from './commands/closure.js';
import { registerCompletion } from './commands/completion.js';
import { registerCopy } from './commands/copy.js';
import { registerExport } from './commands/export.js';
import { registerMerge } from './commands/merge.js';
import { registerInspect } from './commands/inspect.js';
import { registerPlanLayers } from './commands/plan-layers.js';
import { registerPull } from './commands/pull.js';
import { registerPush } from './commands/push.js';
import { registerPushIndex } from './commands/push-index.js';
import { registerSbom } from './commands/sbom.js';
import { registerVm } from './commands/vm.js';
import { registerStreamLayered } from './commands/stream-layered.js';
import { registerStreamNixShell } from './commands/stream-nix-shell.js';
import type { CommandContext } from './context.js';

/** Builds the `strata` commander program with every command registered. */
export function createProgram(options: { signal: AbortSignal }): Command {
  const context: CommandContext = { signal: options.signal, stdout: process.stdout, stderr: process.stderr };
  const program = new Command('strata')
    .description('Container images from Nix store closures (nixpkgs dockerTools, as a library and CLI).')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  // One line per command: each command lives in its own file under commands/.
  registerClosure(program, context);
  registerPlanLayers(program, context);
  registerVm(program, context);
  registerStreamLayered(program, context);
  registerBuildLayered(program, context);
  registerBuildImage(program, context);
  registerStreamNixShell(program, context);
  registerBuildNixShell(program, context);
  registerPush(program, context);
  registerPull(program, context);
  registerCache(program, context);
  registerPushIndex(program, context);
  registerInspect(program, context);
  registerCopy(program, context);
  registerSbom(program, context);
  registerExport(program, context);
  registerMerge(program, context);
  registerCompletion(program, context);
  return program;
}
