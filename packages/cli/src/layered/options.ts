import { resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { type LayeredImageOptions, parseLayeredSpec, type RawSpec, readSpecFile, SPEC_PATH_KEYS } from '@strata/dockertools';

function integer(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

function json(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    throw new InvalidArgumentError('expected JSON');
  }
}

/** [flag, spec key, description with default, parser] for every option both layered commands take. */
const OPTIONS: readonly [string, string, string, ((v: string) => unknown)?][] = [
  ['--name <name>', 'name', 'image name, lower-cased in RepoTags (required, here or in the spec)'],
  ['--tag <tag>', 'tag', 'image tag (default: a hash of the image inputs, 32 hex digits)'],
  ['--contents <paths...>', 'contents', 'store paths (or links into the store) whose closures become store layers and whose files are linked at / (default: none)'],
  ['--config <json>', 'config', 'Docker config: Cmd, Entrypoint, Env, ExposedPorts, User, WorkingDir, ... (default: {})', json],
  ['--architecture <goarch>', 'architecture', 'image architecture in GOARCH terms (default: the host\'s)'],
  ['--created <date>', 'created', 'image creation date, ISO-8601 or "now" (default: 1970-01-01T00:00:01Z)'],
  ['--mtime <date>', 'mtime', 'mtime of every file in the store layers, ISO-8601 or "now" (default: 1970-01-01T00:00:01Z)'],
  ['--uid <n>', 'uid', 'owner uid of store-layer files (default: 0)', integer],
  ['--gid <n>', 'gid', 'owner gid of store-layer files (default: 0)', integer],
  ['--uname <name>', 'uname', 'owner user name of store-layer files (default: root)'],
  ['--gname <name>', 'gname', 'owner group name of store-layer files (default: root)'],
  ['--max-layers <n>', 'maxLayers', 'total layer budget, base image layers included, > 1 (default: 100)', integer],
  ['--from-image <file>', 'fromImage', 'base docker-archive whose layers come first; its Env is merged (default: none)'],
  ['--references-graph <file>', 'referencesGraph', 'take the closure from a references-graph JSON file (default: ask Nix, or scan without it)'],
  ['--store-root <dir>', 'storeRoot', 'a chroot store: image paths are /nix/store/..., bytes come from DIR/nix/store/... (default: /)'],
  ['--layering-pipeline <file>', 'layeringPipeline', "a JSON file with nixpkgs' layeringPipeline; maxLayers is then not used (default: auto-layer)"],
  ['--extra-commands <script>', 'extraCommands', 'bash run unprivileged in the customisation layer directory (default: none)'],
  ['--fake-root-commands <script>', 'fakeRootCommands', 'bash run under fakeroot after extraCommands; ownership it sets is kept (default: none)'],
  ['--enable-fakechroot', 'enableFakechroot', 'run fakeRootCommands under proot with the layer as / (default: off)'],
  ['--include-nix-db', 'includeNixDB', 'register the closure of contents in /nix/var/nix/db (default: off)'],
  ['--bin-sh [target]', 'binSh', 'link /bin/sh to a shell: bin/bash or bin/sh from contents, or TARGET (default: off)'],
  ['--usr-bin-env [target]', 'usrBinEnv', 'link /usr/bin/env to bin/env from contents, or TARGET (default: off)'],
  ['--ca-certificates [bundle]', 'caCertificates', "CA bundle at the three usual paths: the host's, or BUNDLE (default: off)"],
  ['--fake-nss', 'fakeNss', 'minimal /etc/passwd, /etc/group, /etc/nsswitch.conf and /var/empty (default: off)'],
  ['--shadow-setup', 'shadowSetup', "run nixpkgs' shadowSetup before fakeRootCommands (default: off)"],
];

/** Adds the spec options shared by stream-layered and build-layered to `command`. */
export function addLayeredOptions(command: Command): Command {
  command.option('--spec <file>', 'image spec JSON (nixpkgs streamLayeredImage argument names); flags override it');
  for (const [flags, , description, parse] of OPTIONS) {
    const option = new Option(flags, description);
    if (parse) option.argParser(parse);
    command.addOption(option);
  }
  command.addOption(new Option('--closure-source <source>', 'where closure information comes from (default: graph with --references-graph, else nix when installed, else scan)').choices(['nix', 'nix-store', 'graph', 'registration', 'scan']));
  command.option('--no-include-store-paths', 'leave the store layers out (nixpkgs includeStorePaths = false)');
  return command;
}

/** The validated builder options: the spec file (if any) with every flag given on the command line laid over it. */
export async function resolveLayeredSpec(command: Command): Promise<LayeredImageOptions> {
  const flags = command.opts<Record<string, unknown>>();
  const raw: RawSpec = typeof flags.spec === 'string' ? await readSpecFile(flags.spec) : {};
  const keys = [...OPTIONS.map(([, key]) => key), 'closureSource', 'includeStorePaths'];
  for (const key of keys) {
    if (command.getOptionValueSource(key) !== 'cli') continue;
    const value = flags[key];
    const isPath = (SPEC_PATH_KEYS as readonly string[]).includes(key) && typeof value === 'string';
    raw[key] = isPath ? resolve(value as string) : value;
  }
  return parseLayeredSpec(raw, typeof flags.spec === 'string' ? flags.spec : 'spec');
}
