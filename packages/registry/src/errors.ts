const kRegistryError = Symbol.for('strata.registry.RegistryError');
const kRegistryHttpError = Symbol.for('strata.registry.RegistryHttpError');
const kRegistryDigestError = Symbol.for('strata.registry.RegistryDigestError');

function marked(value: unknown, mark: symbol): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[mark] === true;
}

/** Error codes defined by the OCI distribution spec, as registries send them in `{"errors":[{code}]}`. */
export const SPEC_ERROR_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
] as const;

/** A spec error code, or `UNKNOWN` for a status the registry did not explain. */
export type SpecErrorCode = (typeof SPEC_ERROR_CODES)[number] | 'UNKNOWN';

/** Every code a {@link RegistryError} can carry: the spec's plus strata's own. */
export type RegistryErrorCode =
  | SpecErrorCode
  | 'INVALID_REFERENCE'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'SIZE_LIMIT'
  | 'INVALID_RESPONSE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'PLATFORM_NOT_FOUND'
  | 'CREDENTIALS'
  | 'INSECURE_CREDENTIALS'
  | 'TOKEN'
  | 'REDIRECT'
  | 'NETWORK'
  | 'TIMEOUT'
  | 'ABORTED';

/** The base class of every error @strata/registry throws; `instanceof` works across installed copies. */
export class RegistryError extends Error {
  readonly code: RegistryErrorCode;
  readonly [kRegistryError] = true;
  constructor(code: RegistryErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RegistryError';
    this.code = code;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return marked(value, kRegistryError);
  }
}

/** One entry of a registry's `{"errors":[…]}` body. */
export interface SpecErrorDetail {
  readonly code: string;
  readonly message?: string;
  readonly detail?: unknown;
}

/** A registry answered with an unexpected HTTP status; `code` is the first spec code in its body. */
export class RegistryHttpError extends RegistryError {
  /** The HTTP status the registry sent. */
  readonly status: number;
  /** The method and URL (query removed) of the failed request. */
  readonly request: string;
  /** Every error the body listed (empty when the body was not spec JSON). */
  readonly errors: readonly SpecErrorDetail[];
  readonly [kRegistryHttpError] = true;
  constructor(code: SpecErrorCode, message: string, fields: { status: number; request: string; errors: readonly SpecErrorDetail[] }) {
    super(code, message);
    this.name = 'RegistryHttpError';
    this.status = fields.status;
    this.request = fields.request;
    this.errors = fields.errors;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return marked(value, kRegistryHttpError);
  }
}

/** Bytes read from a registry did not match the digest or size they were asked for. */
export class RegistryDigestError extends RegistryError {
  readonly expected: string;
  readonly actual: string;
  readonly [kRegistryDigestError] = true;
  constructor(code: 'DIGEST_MISMATCH' | 'SIZE_MISMATCH', message: string, fields: { expected: string; actual: string }) {
    super(code, message);
    this.name = 'RegistryDigestError';
    this.expected = fields.expected;
    this.actual = fields.actual;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return marked(value, kRegistryDigestError);
  }
}
