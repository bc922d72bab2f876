import type * as z from 'zod';

const kManifestError = Symbol.for('strata.manifest.ManifestError');

/** What went wrong with an image config, manifest or archive. */
export type ManifestErrorCode = 'INVALID_CONFIG' | 'INVALID_OPTION' | 'INVALID_ARCHIVE' | 'NOT_FOUND' | 'UNSUPPORTED';

/** The one error class of `@strata/manifest`; the message names the field or archive member at fault. */
export class ManifestError extends Error {
  readonly code: ManifestErrorCode;
  readonly [kManifestError] = true;
  constructor(code: ManifestErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ManifestError';
    this.code = code;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kManifestError] === true;
  }
}

/** Describes the first zod issue as `field.path: message`, naming unknown keys. */
export function describeZodError(error: z.ZodError, field: string): string {
  const issue = error.issues[0];
  if (!issue) return `${field}: invalid`;
  const where = [field, ...issue.path.map(String)].join('.');
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => `"${k}"`).join(', ');
    return `${where}: unknown key${issue.keys.length > 1 ? 's' : ''} ${keys}`;
  }
  return `${where}: ${issue.message}`;
}
