import { Command } from 'commander';
import type { CommandContext } from './context.js';

type Register = (program: Command, context: CommandContext) => void;

/**
 * Every command, in help order, by name and module. A command's module (and the packages it
 * needs: zod, the registry client, the VM runner...) is imported only when it is needed, so
 * `strata --version` loads commander alone and a command starts without loading the others.
 */
const COMMANDS: readonly (readonly [string, () => Promise<Register>])[] = [
  ['closure', async () => (await import('./commands/closure.js')).registerClosure],
  ['plan-layers', async () => (await import('./commands/plan-layers.js')).registerPlanLayers],
  ['vm', async () => (await import('./commands/vm.js')).registerVm],
  ['stream-layered', async () => (await import('./commands/stream-layered.js')).registerStreamLayered],
  ['build-layered', async () => (await import('./commands/build-layered.js')).registerBuildLayered],
  ['build-image', async () => (await import('./commands/build-image.js')).registerBuildImage],
  ['stream-nix-shell', async () => (await import('./commands/stream-nix-shell.js')).registerStreamNixShell],
  ['build-nix-shell', async () => (await import('./commands/build-nix-shell.js')).registerBuildNixShell],
  ['push', async () => (await import('./commands/push.js')).registerPush],
  ['pull', async () => (await import('./commands/pull.js')).registerPull],
  ['cache', async () => (await import('./commands/cache.js')).registerCache],
  ['push-index', async () => (await import('./commands/push-index.js')).registerPushIndex],
  ['inspect', async () => (await import('./commands/inspect.js')).registerInspect],
  ['copy', async () => (await import('./commands/copy.js')).registerCopy],
  ['sbom', async () => (await import('./commands/sbom.js')).registerSbom],
  ['export', async () => (await import('./commands/export.js')).registerExport],
  ['merge', async () => (await import('./commands/merge.js')).registerMerge],
  ['completion', async () => (await import('./commands/completion.js')).registerCompletion],
];

/** The commands `argv` needs: the one it names, none for a bare --version, all otherwise (help, errors). */
function commandsFor(argv: readonly string[] | undefined): readonly (readonly [string, () => Promise<Register>])[] {
  if (argv === undefined) return COMMANDS;
  const name = argv.find((arg) => !arg.startsWith('-'));
  const named = COMMANDS.filter(([command]) => command === name);
  if (named.length > 0) return named;
  if (name === undefined && argv.length > 0 && argv.every((arg) => arg === '--version' || arg === '-V')) return [];
  return COMMANDS;
}

/**
 * Builds the `strata` commander program with every command registered, or, given the arguments
 * it will parse, only the commands those need.
 */
export async function createProgram(options: { signal: AbortSignal }, argv?: readonly string[]): Promise<Command> {
  const context: CommandContext = { signal: options.signal, stdout: process.stdout, stderr: process.stderr };
  const program = new Command('strata')
    .description('Container images from Nix store closures (nixpkgs dockerTools, as a library and CLI).')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  // One line per command in COMMANDS: each command lives in its own file under commands/.
  const registers = await Promise.all(commandsFor(argv).map(([, load]) => load()));
  for (const register of registers) register(program, context);
  return program;
}
