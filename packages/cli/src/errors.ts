const kCliError = Symbol.for('strata.cli.CliError');

/** A usage or input error detected by the CLI itself (bad flags, unreadable spec); exit code 2. */
export class CliError extends Error {
  readonly code: 'USAGE' | 'INPUT';
  readonly [kCliError] = true;
  constructor(message: string, code: 'USAGE' | 'INPUT' = 'INPUT') {
    super(message);
    this.name = 'CliError';
    this.code = code;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kCliError] === true;
  }
}

/** The exit code and message the CLI reports for an error thrown by a command. */
export function describeError(error: unknown): { exitCode: number; message: string } {
  if (error instanceof CliError) return { exitCode: 2, message: error.message };
  if (error instanceof Error && error.name === 'AbortError') return { exitCode: 130, message: 'interrupted' };
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const prefix = typeof code === 'string' && /^[A-Z_]+$/.test(code) ? `${code}: ` : '';
    return { exitCode: 1, message: `${prefix}${error.message}` };
  }
  return { exitCode: 1, message: String(error) };
}
