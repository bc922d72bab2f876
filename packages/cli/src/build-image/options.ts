import { type BuildImageOptions, CLOSURE_SOURCES, parseBuildImageSpec, specBuilder } from '@strata/dockertools';
import { type Command, Option } from 'commander';
import { CliError } from '../errors.js';
import { addSpecFlags, integer, json, readSpecWithFlags, type SpecFlag } from '../spec-flags.js';

/** Every buildImage argument as a flag, with nixpkgs' default in its description. */
const OPTIONS: readonly SpecFlag[] = [
  ['--name <name>', 'name', 'image name, lower-cased in RepoTags; may carry a registry prefix (required, here or in the spec)'],
  ['--tag <tag>', 'tag', 'image tag (default: a hash of the inputs and of what the new layer holds, 32 hex digits)'],
  ['--from-image <file>', 'fromImage', 'base docker-archive (plain, gz or zstd) whose layers come first; its Env is merged (default: none)'],
  ['--from-image-name <name>', 'fromImageName', 'with --from-image-tag: which image of a multi-image archive (default: the first)'],
  ['--from-image-tag <tag>', 'fromImageTag', 'with --from-image-name: which image of a multi-image archive (default: the first)'],
  ['--copy-to-root <paths...>', 'copyToRoot', 'store paths (or links into the store, or local directories) whose contents are copied to / (default: none)'],
  ['--contents <paths...>', 'contents', 'deprecated name of --copy-to-root (default: none)'],
  ['--keep-contents-dirlinks', 'keepContentsDirlinks', 'keep symlinks to directories as links (rsync -K) instead of copying what they point at (rsync -k) (default: off)'],
  ['--config <json>', 'config', 'Docker config: Cmd, Entrypoint, Env, ExposedPorts, User, WorkingDir, ... (default: none)', json],
  ['--architecture <goarch>', 'architecture', "image architecture in GOARCH terms (default: the host's)"],
  ['--extra-commands <script>', 'extraCommands', 'bash run unprivileged in the new layer directory before it is packed (default: none)'],
  ['--uid <n>', 'uid', 'owner uid of the copyToRoot files (default: 0)', integer],
  ['--gid <n>', 'gid', 'owner gid of the copyToRoot files (default: 0)', integer],
  ['--run-as-root <script>', 'runAsRoot', 'script run as root in a VM over the base image with copyToRoot on top; what it changes is the layer (default: none)'],
  ['--disk-size <mib>', 'diskSize', 'MiB the runAsRoot script may write (default: 1024)', integer],
  ['--build-vm-memory-size <mib>', 'buildVMMemorySize', 'MiB of memory of the runAsRoot VM (default: 512)', integer],
  ['--created <date>', 'created', 'image creation date, ISO-8601 or "now" (default: 1970-01-01T00:00:01Z)'],
  ['--include-nix-db', 'includeNixDB', 'register the closure of copyToRoot in /nix/var/nix/db, as buildImageWithNixDb (default: off)'],
  ['--references-graph <file>', 'referencesGraph', 'take the closure from a references-graph JSON file (default: ask Nix, or scan without it)'],
  ['--store-root <dir>', 'storeRoot', 'a chroot store: image paths are /nix/store/..., bytes come from DIR/nix/store/... (default: /)'],
  [new Option('--closure-source <source>', 'where closure information comes from (default: graph with --references-graph, else nix when installed, else scan)').choices(CLOSURE_SOURCES), 'closureSource'],
];

/** Adds buildImage's spec options to `command`. */
export function addBuildImageOptions(command: Command): Command {
  return addSpecFlags(command, 'image spec JSON (nixpkgs buildImage argument names); flags override it', OPTIONS);
}

/** The validated buildImage options: the spec file (if any) with every flag given on the command line laid over it. */
export async function resolveBuildImageSpec(command: Command): Promise<BuildImageOptions> {
  const { raw, where } = await readSpecWithFlags(command);
  if (specBuilder(raw, where, 'image') === 'layered') throw new CliError(`${where}: a ${String(raw.builder)} spec; build it with strata build-layered`);
  return parseBuildImageSpec(raw, where);
}
