const kClosureError = Symbol.for('strata.closure.ClosureError');
const kDerivationError = Symbol.for('strata.closure.DerivationError');

/** Why closure discovery failed. */
export type ClosureErrorCode =
  /** A root or a referenced path does not exist in the store (or the graph file). */
  | 'NOT_FOUND'
  /** A path is not below the store directory. */
  | 'OUTSIDE_STORE'
  /** A store path's name has characters Nix does not allow, or its hash part is malformed. */
  | 'INVALID_NAME'
  /** A path refers to another path that the graph or registration does not describe. */
  | 'MISSING_REFERENCE'
  /** A graph, registration or derivation file is not what it should be (bad JSON, missing field, wrong type, bad ATerm). */
  | 'MALFORMED'
  /** The references form a cycle other than a path referring to itself. */
  | 'CYCLE'
  /** A path appears twice with different information. */
  | 'DUPLICATE'
  /** The nix command failed or could not be run. */
  | 'NIX_FAILED'
  /** An input in a format strata does not read (an unknown derivation format version). */
  | 'UNSUPPORTED'
  /** An input over a size limit (a derivation file larger than `maxBytes`, or with too many items). */
  | 'TOO_LARGE';

function hasBrand(value: unknown, brand: symbol): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

/** The one error class of `@strata/closure`; `code` says which failure it is. */
export class ClosureError extends Error {
  readonly code: ClosureErrorCode;
  readonly [kClosureError] = true;
  constructor(code: ClosureErrorCode, message: string, options?: ErrorOptions) {
    super(`closure: ${message}`, options);
    this.name = 'ClosureError';
    this.code = code;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, kClosureError);
  }
}

/**
 * A derivation file that cannot be read: `file` names it (or `<derivation>` for text given without a
 * path) and `offset` is the byte where reading stopped (undefined when the whole file is at fault,
 * such as its size).
 */
export class DerivationError extends ClosureError {
  readonly file: string;
  readonly offset: number | undefined;
  readonly [kDerivationError] = true;
  constructor(code: 'MALFORMED' | 'UNSUPPORTED' | 'TOO_LARGE' | 'NOT_FOUND', file: string, offset: number | undefined, message: string, options?: ErrorOptions) {
    super(code, `${file}: ${offset === undefined ? '' : `byte ${offset}: `}${message}`, options);
    this.name = 'DerivationError';
    this.file = file;
    this.offset = offset;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, kDerivationError);
  }
}
