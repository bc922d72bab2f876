import { resolve } from 'node:path';
import { NIX_SHELL_SPEC_PATH_KEYS, type NixShellImageOptions, parseNixShellSpec, type RawSpec, readSpecFile } from '@strata/dockertools';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { CliError } from '../errors.js';

function integer(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

const SHELL_REQUIRED = "a bash in the Nix store that runs in a container, e.g. a static bash copied into the store (nixpkgs uses bash's bin/bash, lib.getExe pkgs.bash, which strata cannot evaluate without nixpkgs)";

/** [flag, spec key, description with nixpkgs' default, parser] for every option of the nix-shell commands. */
const OPTIONS: readonly [string, string, string, ((v: string) => unknown)?][] = [
  ['--name <name>', 'name', 'image name, lower-cased in RepoTags (default: the derivation\'s name + "-env")'],
  ['--tag <tag>', 'tag', 'image tag (default: a hash of the image inputs, 32 hex digits)'],
  ['--uid <n>', 'uid', 'uid of the build user the container runs as; the store and /build belong to it (default: 1000)', integer],
  ['--gid <n>', 'gid', "the build user's gid (default: 1000)", integer],
  ['--home-directory <dir>', 'homeDirectory', "HOME and the build user's home; only /build is created (default: /build)"],
  ['--shell <path>', 'shell', `required: ${SHELL_REQUIRED}`],
  ['--command <script>', 'command', 'run in the environment in an interactive shell, as nix-shell --command (default: an interactive shell)'],
  ['--run <script>', 'run', 'run in the environment in a non-interactive shell, as nix-shell --run; not with --command (default: none)'],
  ['--cacert <path>', 'cacert', 'a CA certificates store path for NIX_SSL_CERT_FILE and SSL_CERT_FILE (nixpkgs: pkgs.cacert; default: none)'],
  ['--usr-bin-env <path>', 'usrBinEnv', "what /usr/bin/env leads to, a file in the store (nixpkgs: coreutils' bin/env; default: env beside the shell, if any)"],
  ['--store-root <dir>', 'storeRoot', 'a chroot store: the derivation, its inputs and the shell are read from DIR/nix/store (default: /)'],
];

/** Adds `[drv]` and the options of stream-nix-shell and build-nix-shell to `command`. */
export function addNixShellOptions(command: Command): Command {
  command.argument('[drv]', 'the .drv store path of the derivation, as nix-instantiate prints it (or a link to it)');
  command.option('--spec <file>', 'spec JSON with the same keys (nixpkgs streamNixShellImage argument names, "drv" included); flags override it');
  for (const [flags, , description, parse] of OPTIONS) {
    const option = new Option(flags, description);
    if (parse) option.argParser(parse);
    command.addOption(option);
  }
  command.addOption(
    new Option('--closure-source <source>', 'where the closure of the inputs comes from (default: nix when installed, else scan)').choices(['nix', 'nix-store', 'scan']),
  );
  return command;
}

/** The validated builder options: the spec file (if any), with DRV and every flag given on the command line laid over it. */
export async function resolveNixShellSpec(command: Command, drv: string | undefined): Promise<NixShellImageOptions> {
  const flags = command.opts<Record<string, unknown>>();
  const raw: RawSpec = typeof flags.spec === 'string' ? await readSpecFile(flags.spec, NIX_SHELL_SPEC_PATH_KEYS) : {};
  if (drv !== undefined) raw.drv = resolve(drv);
  for (const [, key] of [...OPTIONS, ['', 'closureSource'] as const]) {
    if (command.getOptionValueSource(key) !== 'cli') continue;
    const value = flags[key];
    raw[key] = key === 'storeRoot' && typeof value === 'string' ? resolve(value) : value;
  }
  // Said in the command line's terms; the builder would name the spec keys.
  if (raw.drv === undefined) throw new CliError(`${command.name()}: DRV is required (or "drv" in the spec): the .drv store path nix-instantiate prints`, 'USAGE');
  if (raw.shell === undefined) throw new CliError(`${command.name()}: --shell is required (or "shell" in the spec): ${SHELL_REQUIRED}`, 'USAGE');
  return parseNixShellSpec(raw, typeof flags.spec === 'string' ? flags.spec : 'options');
}
