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

/**
 * The exit-code contract: which error codes of which package mean the user's input or usage is at
 * fault (exit 2: the command cannot succeed until the input changes); every other error is a
 * failure (exit 1: a script failed, the network broke, a file changed while it was read, ...).
 * Packages are recognised by their errors' Symbol.for brands, so no package is loaded for this.
 */
const INPUT_ERRORS: ReadonlyArray<readonly [brand: string, codes: readonly string[] | 'all']> = [
  ['strata.closure.ClosureError', ['NOT_FOUND', 'OUTSIDE_STORE', 'INVALID_NAME', 'MISSING_REFERENCE', 'MALFORMED', 'CYCLE', 'DUPLICATE', 'UNSUPPORTED', 'TOO_LARGE']],
  ['strata.nix-shell.NixShellError', 'all'],
  ['strata.popularity.PopularityError', 'all'],
  ['strata.layer.LayerError', ['NOT_FOUND', 'NOT_IN_STORE', 'INVALID_OPTION']],
  ['strata.customisation.CustomisationError', ['CONTENTS_NOT_FOUND', 'INVALID_OPTION', 'TOOL_MISSING']],
  ['strata.manifest.ManifestError', ['INVALID_CONFIG', 'INVALID_OPTION', 'INVALID_ARCHIVE', 'NOT_FOUND', 'UNSUPPORTED']],
  ['strata.image.ImageError', ['INVALID_IMAGE', 'INVALID_OPTION', 'UNSUPPORTED', 'DIGEST_MISMATCH', 'UNSAFE_ENTRY', 'LIMIT_EXCEEDED']],
  ['strata.dockertools.DockerToolsError', 'all'],
  ['strata.vm.VmError', ['INVALID_OPTION']],
  ['strata.registry.RegistryError', ['INVALID_REFERENCE', 'CREDENTIALS', 'PLATFORM_NOT_FOUND']],
];

/** Codes whose messages begin with the name of the option or spec key at fault. */
const FIELD_CODES = new Set(['INVALID_OPTION', 'INVALID_SPEC', 'INVALID_CONFIG']);

/** True when `error` is one the contract says is the user's input or usage at fault. */
export function isInputError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  return INPUT_ERRORS.some(
    ([brand, codes]) => (error as Record<symbol, unknown>)[Symbol.for(brand)] === true && (codes === 'all' || (typeof code === 'string' && codes.includes(code))),
  );
}

/** The exit code and message the CLI reports for an error thrown by a command. */
export function describeError(error: unknown): { exitCode: number; message: string } {
  if (error instanceof CliError) return { exitCode: 2, message: error.message };
  if (error instanceof Error && error.name === 'AbortError') return { exitCode: 130, message: 'interrupted' };
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    // An option's message starts with the option's name already; other codes say what kind of failure it was.
    const named = typeof code === 'string' && /^[A-Z_]+$/.test(code) && !FIELD_CODES.has(code);
    const prefix = named ? `${code}: ` : '';
    return { exitCode: isInputError(error) ? 2 : 1, message: `${prefix}${error.message}` };
  }
  return { exitCode: 1, message: String(error) };
}
