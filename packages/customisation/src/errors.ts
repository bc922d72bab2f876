const kCustomisationError = Symbol.for('strata.customisation.CustomisationError');

/** Why building the customisation layer failed. */
export type CustomisationErrorCode =
  /** A `contents` path does not exist, or is of a type a layer cannot hold. */
  | 'CONTENTS_NOT_FOUND'
  /** extraCommands or fakeRootCommands exited non-zero. */
  | 'SCRIPT_FAILED'
  /** A program the option needs (fakeroot, proot, bash) is not installed. */
  | 'TOOL_MISSING'
  /** An option's value is unusable (e.g. binSh with nothing that provides a shell). */
  | 'INVALID_OPTION';

/** The one error class of `@strata/customisation`; `code` says which failure it is. */
export class CustomisationError extends Error {
  readonly code: CustomisationErrorCode;
  readonly [kCustomisationError] = true;
  constructor(code: CustomisationErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CustomisationError';
    this.code = code;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kCustomisationError] === true;
  }
}
