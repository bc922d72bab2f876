import { escapeShellArg, escapeShellArgs } from './_shell-quote.js';

/**
 * The `buildDerivation` script of a nix-shell image: runs the derivation's builder with its
 * arguments, quoted as nixpkgs' `lib.escapeShellArg` quotes them, under `shell` (nixpkgs'
 * `writeShellScriptBin` uses bash; strata the image's shell).
 * @example buildDerivationScript('/bin/sh', ['-c', 'echo hi > $out'], '/nix/store/…-bash/bin/bash')
 * // "#!/nix/store/…-bash/bin/bash\nexec /bin/sh -c 'echo hi > $out'\n\n"
 */
export function buildDerivationScript(builder: string, args: readonly string[], shell: string): string {
  // writeShellScriptBin writes "#!shell\n" + text + "\n", and nixpkgs' text ends in a newline.
  return `#!${shell}\nexec ${escapeShellArg(builder)} ${escapeShellArgs(args)}\n\n`;
}
