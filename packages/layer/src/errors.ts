const kLayerError = Symbol.for('strata.layer.LayerError');

/** What went wrong while planning or packing a layer. */
export type LayerErrorCode =
  | 'NOT_FOUND'
  | 'NOT_IN_STORE'
  | 'UNREADABLE'
  | 'UNSUPPORTED_TYPE'
  | 'CHANGED'
  | 'INVALID_OPTION';

/** The base error class of `@strata/layer`; `code` says which failure, the message names the path. */
export class LayerError extends Error {
  readonly code: LayerErrorCode;
  readonly [kLayerError] = true;
  constructor(code: LayerErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LayerError';
    this.code = code;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kLayerError] === true;
  }
}

/** Turns an fs error about `path` into a LayerError naming it. */
export function toLayerError(error: unknown, path: string): LayerError {
  if (error instanceof LayerError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new LayerError('NOT_FOUND', `layer: ${path} does not exist`, { cause: error });
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new LayerError('UNREADABLE', `layer: cannot read ${path}: ${reason}`, { cause: error });
}
