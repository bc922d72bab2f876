const kCacheError = Symbol.for('strata.cache.CacheError');

/** What went wrong with the layer cache. */
export type CacheErrorCode =
  /** A key or entry is malformed; the message names the field. */
  | 'INVALID_OPTION'
  /** An entry could not be written (a read-only or full disk, a file where a directory should be). */
  | 'WRITE_FAILED'
  /** The cache directory could not be read while pruning. */
  | 'UNREADABLE';

/** The one error class of `@strata/cache`; `code` says which failure it is, the message names the file. */
export class CacheError extends Error {
  readonly code: CacheErrorCode;
  readonly [kCacheError] = true;
  constructor(code: CacheErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CacheError';
    this.code = code;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kCacheError] === true;
  }
}
