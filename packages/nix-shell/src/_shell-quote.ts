// What nixpkgs' lib.escapeShellArg leaves bare: [[:alnum:],._+:@%/-] in the C locale.
const SAFE = /^[A-Za-z0-9,._+:@%/-]+$/;

/**
 * Quotes `arg` for a POSIX shell as nixpkgs' `lib.escapeShellArg` does: as it is when every
 * character is safe, else in single quotes with each `'` written `'\''`.
 */
export function escapeShellArg(arg: string): string {
  return SAFE.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

/** `lib.escapeShellArgs`: each argument quoted, joined by spaces. */
export function escapeShellArgs(args: readonly string[]): string {
  return args.map(escapeShellArg).join(' ');
}

/** Compares strings by their UTF-8 bytes, the order of Nix's attribute names. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
