const kDockerToolsError = Symbol.for('strata.dockertools.DockerToolsError');

/** What went wrong in a builder before or while it assembled an image. */
export type DockerToolsErrorCode =
  /** An option (or spec key) is missing, malformed or out of range; the message names it. */
  | 'INVALID_OPTION'
  /** A spec file cannot be read or is not a JSON object. */
  | 'INVALID_SPEC';

/** The one error class of `@strata/dockertools`; errors of the stages it calls pass through as they are. */
export class DockerToolsError extends Error {
  readonly code: DockerToolsErrorCode;
  readonly [kDockerToolsError] = true;
  constructor(code: DockerToolsErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DockerToolsError';
    this.code = code;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kDockerToolsError] === true;
  }
}
