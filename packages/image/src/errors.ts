const kImageError = Symbol.for('strata.image.ImageError');

/** What went wrong with an image source or sink. */
export type ImageErrorCode =
  /** A layer's bytes do not hash to the digest its image declares. */
  | 'DIGEST_MISMATCH'
  /** A file is not an image this package reads, or holds no image of the name asked for. */
  | 'INVALID_IMAGE'
  /** An option is out of range or malformed; the message names it. */
  | 'INVALID_OPTION'
  /** This Node or machine lacks what the request needs (e.g. a compressor). */
  | 'UNSUPPORTED'
  /** A layer entry would write or link outside the directory it is unpacked into; nothing is written for it. */
  | 'UNSAFE_ENTRY'
  /** Unpacking would pass a bound the caller set (bytes or entries); the message names it. */
  | 'LIMIT_EXCEEDED';

/** The one error class of `@strata/image`; `code` says which failure it is, the message names the layer or file. */
export class ImageError extends Error {
  readonly code: ImageErrorCode;
  readonly [kImageError] = true;
  constructor(code: ImageErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ImageError';
    this.code = code;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kImageError] === true;
  }
}
