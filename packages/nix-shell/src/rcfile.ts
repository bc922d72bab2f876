import { escapeShellArg } from './_shell-quote.js';

/** What {@link renderRcfile} needs. */
export interface RcfileOptions {
  /** The shell (`SHELL`, `BASH`). */
  readonly shell: string;
  /** Directories put before the environment's PATH: the shell's directory and buildDerivation's `bin`. */
  readonly staticPath: string;
  /** Whether the derivation sets `stdenv` (then `$stdenv/setup` is sourced when it exists). */
  readonly hasStdenv: boolean;
  readonly command?: string;
  readonly run?: string;
}

// nix-shell's prompt for a non-root user: bold green "[nix-shell:dir]$" after a blank line.
const PROMPT = String.raw`PS1='\n\[\033[1;32m\][nix-shell:\w]\$\[\033[0m\] '`;

/**
 * The rcfile of a nix-shell image, as nixpkgs' `streamNixShellImage` writes it after Nix's
 * nix-build.cc: forget PATH, source `$stdenv/setup`, put the static path first, set SHELL and BASH,
 * keep going on errors, the nix-shell prompt in interactive shells, run `shellHook` through
 * `runHook`, drop NIX_ENFORCE_PURITY, reset nullglob and set execfail; then `command` or `run`
 * and `exit` when one is given.
 */
export function renderRcfile(options: RcfileOptions): string {
  const shell = escapeShellArg(options.shell);
  const lines = [
    'unset PATH',
    'dontAddDisableDepTrack=1',
    // Only when the derivation has a stdenv: an image may hold a /setup that is no stdenv's. Quoted,
    // unlike nixpkgs, which is the same for every store path and safe for any other value.
    ...(options.hasStdenv ? ['[ -e "$stdenv/setup" ] && source "$stdenv/setup"'] : []),
    `PATH=${escapeShellArg(options.staticPath)}:"$PATH"`,
    `SHELL=${shell}`,
    `BASH=${shell}`,
    'set +e',
    `[ -n "$PS1" -a -z "$NIX_SHELL_PRESERVE_PROMPT" ] && ${PROMPT}`,
    'if [ "$(type -t runHook)" = function ]; then',
    '  runHook shellHook',
    'fi',
    'unset NIX_ENFORCE_PURITY',
    'shopt -u nullglob',
    'shopt -s execfail',
  ];
  // nixpkgs: "${command}\n${run}\nexit\n" when either is set, then the line's own newline.
  const tail = options.command !== undefined || options.run !== undefined ? `${options.command ?? ''}\n${options.run ?? ''}\nexit\n` : '';
  return `${lines.join('\n')}\n${tail}\n`;
}
