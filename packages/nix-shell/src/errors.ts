const kNixShellError = Symbol.for('strata.nix-shell.NixShellError');
const kMissingInputsError = Symbol.for('strata.nix-shell.MissingInputsError');

/** Why a nix-shell image cannot be prepared. */
export type NixShellErrorCode =
  /** An option is missing or invalid (no `shell`, a uid that is not an integer, ...). */
  | 'INVALID_OPTION'
  /** The derivation uses `__structuredAttrs`, which nixpkgs' nix-shell images refuse too. */
  | 'STRUCTURED_ATTRS'
  /** Both `command` and `run` were given (nixpkgs: "Can't specify both command and run"). */
  | 'COMMAND_AND_RUN'
  /** Inputs of the derivation (or the shell) are not in the store: see {@link MissingInputsError}. */
  | 'MISSING_INPUTS'
  /** The derivation needs something only Nix can resolve (content-addressed or dynamic inputs). */
  | 'UNSUPPORTED';

function hasBrand(value: unknown, brand: symbol): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

/** The base error of `@strata/nix-shell`; `code` says which failure it is. */
export class NixShellError extends Error {
  readonly code: NixShellErrorCode;
  readonly [kNixShellError] = true;
  constructor(code: NixShellErrorCode, message: string, options?: ErrorOptions) {
    super(`nix-shell: ${message}`, options);
    this.name = 'NixShellError';
    this.code = code;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, kNixShellError);
  }
}

/** One input the image needs that is not in the store, and how to get it there. */
export interface MissingInput {
  readonly path: string;
  /** What the path is to the derivation (`output out of /nix/store/…-x.drv`, `an input source`, `the shell`). */
  readonly role: string;
  /** The command that realises it (builds the input derivation, or substitutes the path). */
  readonly command: string;
}

/** Inputs of the derivation are not in the store; `missing` lists each with its command, `command` realises them all. */
export class MissingInputsError extends NixShellError {
  declare readonly code: 'MISSING_INPUTS';
  readonly missing: readonly MissingInput[];
  readonly command: string;
  readonly [kMissingInputsError] = true;
  constructor(message: string, missing: readonly MissingInput[], command: string) {
    super('MISSING_INPUTS', message);
    this.name = 'MissingInputsError';
    this.missing = missing;
    this.command = command;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, kMissingInputsError);
  }
}
