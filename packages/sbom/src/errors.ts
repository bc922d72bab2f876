const kSbomError = Symbol.for('strata.sbom.SbomError');

/** What went wrong making an SBOM. */
export type SbomErrorCode =
  /** An option is malformed; the message names it. */
  | 'INVALID_OPTION'
  /** A layer holds a store entry strata will not write (a path through a link, a device in the store, too many entries). */
  | 'UNSAFE_ENTRY';

/** The one error class of `@strata/sbom`; the message names the layer and entry at fault. */
export class SbomError extends Error {
  readonly code: SbomErrorCode;
  readonly [kSbomError] = true;
  constructor(code: SbomErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SbomError';
    this.code = code;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kSbomError] === true;
  }
}
