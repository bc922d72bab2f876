import { DEFAULT_STORE_DIR, toStorePath, validateStorePath } from '@strata/closure';
import { NixShellError } from './errors.js';

/**
 * Options of a nix-shell image, with the names and defaults of nixpkgs' `streamNixShellImage`.
 */
export interface NixShellImageOptions {
  /** Image name. @default the derivation's name + `-env` */
  readonly name?: string;
  /** Image tag. @default none (the image builder decides, as nixpkgs uses its output hash) */
  readonly tag?: string;
  /** User id the container runs as and the build directory and store belong to. @default 1000 */
  readonly uid?: number;
  /** Group id, see `uid`. @default 1000 */
  readonly gid?: number;
  /** `HOME` and the build user's home in /etc/passwd (nixpkgs keeps `/build` for compatibility; Nix itself uses `/homeless-shelter`). @default '/build' */
  readonly homeDirectory?: string;
  /**
   * The shell, a file in the Nix store: it runs the rcfile, and its directory leads `PATH`.
   * Required: nixpkgs defaults to bash's `bin/bash` (`lib.getExe pkgs.bash`; older nixpkgs
   * `pkgs.bashInteractive + "/bin/bash"`), which strata cannot evaluate without nixpkgs.
   */
  readonly shell: string;
  /** Run this in the derivation's environment in an interactive shell (`nix-shell --command`). */
  readonly command?: string;
  /** Run this in the derivation's environment in a non-interactive shell (`nix-shell --run`). */
  readonly run?: string;
  /**
   * A CA certificates package in the store (nixpkgs' `cacert`): `NIX_SSL_CERT_FILE` and
   * `SSL_CERT_FILE` then point at its `etc/ssl/certs/ca-bundle.crt`. nixpkgs always sets them;
   * strata only when given. @default none
   */
  readonly cacert?: string;
  /** A chroot store holding the derivations and inputs (`/nix/store/x` is read from `<storeRoot>/nix/store/x`). @default the real /nix/store */
  readonly storeRoot?: string;
}

/** {@link NixShellImageOptions} with every default applied and every value checked. */
export interface ResolvedNixShellImageOptions {
  readonly name: string;
  readonly tag?: string;
  readonly uid: number;
  readonly gid: number;
  readonly homeDirectory: string;
  readonly shell: string;
  readonly command?: string;
  readonly run?: string;
  readonly cacert?: string;
  readonly storeRoot: string;
}

function invalid(message: string): never {
  throw new NixShellError('INVALID_OPTION', message);
}

function checkId(value: unknown, field: string): number {
  if (value === undefined) return 1000;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff_fffe) {
    invalid(`${field}: expected an integer from 0 to 4294967294, got ${JSON.stringify(value)}`);
  }
  return value;
}

function checkString(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') invalid(`${field}: expected a string, got ${typeof value}`);
  return value;
}

// A colon or newline would break /etc/passwd and PATH, where these values end up.
function checkPathLike(value: string, field: string): string {
  if (!value.startsWith('/') || /[:\n\0]/.test(value)) invalid(`${field}: expected an absolute path without ":" or a newline, got ${JSON.stringify(value)}`);
  return value;
}

/** The store path `path` lies in, as an INVALID_OPTION naming `field` when it is not a well-formed one. */
function storePathOf(path: string, field: string): string {
  const storePath = toStorePath(path);
  if (!storePath) invalid(`${field}: ${path} is not in the Nix store ${DEFAULT_STORE_DIR}: the image holds only store paths`);
  try {
    return validateStorePath(storePath, DEFAULT_STORE_DIR, `${field}:`);
  } catch (error) {
    return invalid((error as Error).message.replace(/^closure: /, ''));
  }
}

function checkShell(value: unknown): string {
  if (value === undefined || value === '') {
    invalid('shell is required: a shell in the Nix store, such as /nix/store/…-bash-5.2/bin/bash (nixpkgs defaults to lib.getExe pkgs.bash, which strata cannot evaluate without nixpkgs)');
  }
  const shell = checkPathLike(checkString(value, 'shell')!, 'shell');
  storePathOf(shell, 'shell');
  return shell;
}

/**
 * Applies nixpkgs' defaults and checks every option. `derivationName` gives the default image
 * name. Throws INVALID_OPTION naming the field, or COMMAND_AND_RUN.
 */
export function resolveNixShellImageOptions(options: NixShellImageOptions, derivationName: string | undefined): ResolvedNixShellImageOptions {
  const command = checkString(options.command, 'command');
  const run = checkString(options.run, 'run');
  if (command !== undefined && run !== undefined) {
    throw new NixShellError('COMMAND_AND_RUN', 'command and run cannot both be given (nixpkgs: "Can\'t specify both command and run")');
  }
  const name = checkString(options.name, 'name') ?? (derivationName === undefined ? undefined : `${derivationName}-env`);
  if (!name) invalid('name: the derivation has no name to derive the image name from; give one');
  const cacert = checkString(options.cacert, 'cacert');
  if (cacert !== undefined && storePathOf(checkPathLike(cacert, 'cacert'), 'cacert') !== cacert) invalid(`cacert: expected a store path, got ${cacert}`);
  const tag = checkString(options.tag, 'tag');
  return {
    name,
    ...(tag !== undefined ? { tag } : {}),
    uid: checkId(options.uid, 'uid'),
    gid: checkId(options.gid, 'gid'),
    homeDirectory: checkPathLike(checkString(options.homeDirectory, 'homeDirectory') ?? '/build', 'homeDirectory'),
    shell: checkShell(options.shell),
    ...(command !== undefined ? { command } : {}),
    ...(run !== undefined ? { run } : {}),
    ...(cacert !== undefined ? { cacert } : {}),
    storeRoot: checkString(options.storeRoot, 'storeRoot') ?? '',
  };
}
