const kClosureError = Symbol.for('strata.closure.ClosureError');

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
  /** A graph or registration file is not what it should be (bad JSON, missing field, wrong type). */
  | 'MALFORMED'
  /** The references form a cycle other than a path referring to itself. */
  | 'CYCLE'
  /** A path appears twice with different information. */
  | 'DUPLICATE'
  /** The nix command failed or could not be run. */
  | 'NIX_FAILED';

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
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kClosureError] === true;
  }
}
