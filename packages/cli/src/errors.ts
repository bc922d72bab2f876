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
 * The exit-code contract, per error code of every package. 2 when the command cannot succeed until
 * the user changes what they gave it: a flag, a spec key, an input file (graph, pipeline, base
 * image, contents, CA bundle), a reference, credentials, or a request this machine cannot serve (a
 * program it lacks, KVM). 1 for a failure while running: a script exited non-zero, Nix or the VM
 * failed, the network or a registry broke, a file changed or could not be read while packing. (130,
 * interrupted, comes from the signal.) A code missing here is a failure; errors.test.ts checks that
 * every code of every package's errors.ts is listed. Packages are recognised by their errors'
 * Symbol.for brands, so no package is loaded for this.
 */
export const EXIT_CODES: Readonly<Record<string, Readonly<Record<string, 1 | 2>>>> = {
  'strata.closure.ClosureError': { NOT_FOUND: 2, OUTSIDE_STORE: 2, INVALID_NAME: 2, MISSING_REFERENCE: 2, MALFORMED: 2, CYCLE: 2, DUPLICATE: 2, UNSUPPORTED: 2, TOO_LARGE: 2, NIX_FAILED: 1 },
  // A derivation strata cannot make a shell image of, or inputs not yet in the store: the user's to change.
  'strata.nix-shell.NixShellError': { INVALID_OPTION: 2, STRUCTURED_ATTRS: 2, COMMAND_AND_RUN: 2, MISSING_INPUTS: 2, UNSUPPORTED: 2 },
  // Every planning error is about the graph, the pipeline or the budget the user gave.
  'strata.popularity.PopularityError': {
    LAYER_BUDGET: 2, INVALID_OPTION: 2, INVALID_GRAPH: 2, DUPLICATE_PATH: 2, UNKNOWN_REFERENCE: 2, REFERENCE_CYCLE: 2, INVALID_PIPELINE: 2,
  },
  // UNREADABLE and CHANGED are about files while they are packed; UNSUPPORTED_TYPE about what the
  // customisation scripts left (a socket): failures of the run, not of what was asked.
  // UNSUPPORTED_NAME: contents holding a file name that is not UTF-8, which no tar header can name.
  'strata.layer.LayerError': { NOT_FOUND: 2, NOT_IN_STORE: 2, INVALID_OPTION: 2, UNSUPPORTED_NAME: 2, UNREADABLE: 1, UNSUPPORTED_TYPE: 1, CHANGED: 1 },
  'strata.customisation.CustomisationError': { CONTENTS_NOT_FOUND: 2, INVALID_OPTION: 2, TOOL_MISSING: 2, SCRIPT_FAILED: 1 },
  'strata.manifest.ManifestError': { INVALID_CONFIG: 2, INVALID_OPTION: 2, INVALID_ARCHIVE: 2, NOT_FOUND: 2, UNSUPPORTED: 2 },
  // DIGEST_MISMATCH: a base image whose layers contradict its config is a bad input file.
  'strata.image.ImageError': { DIGEST_MISMATCH: 2, INVALID_IMAGE: 2, INVALID_OPTION: 2, UNSUPPORTED: 2, UNSAFE_ENTRY: 2, LIMIT_EXCEEDED: 2 },
  'strata.dockertools.DockerToolsError': { INVALID_OPTION: 2, INVALID_SPEC: 2, SCRIPT_FAILED: 1 },
  // An SBOM strata will not write is about the image it was given.
  'strata.sbom.SbomError': { INVALID_OPTION: 2, UNSAFE_ENTRY: 2 },
  'strata.vm.VmError': { INVALID_OPTION: 2, MISSING_COMPONENT: 2, KVM_UNAVAILABLE: 2, BOOT_FAILED: 1, TIMEOUT: 1, DISK_FULL: 1 },
  // What the registry says about the reference or the credentials is the user's to change; a
  // broken network or registry (5xx, 429, bytes that contradict their digest, answers strata cannot
  // read, token or redirect failures) is a failure.
  'strata.registry.RegistryError': {
    INVALID_REFERENCE: 2, CREDENTIALS: 2, PLATFORM_NOT_FOUND: 2, NAME_INVALID: 2, NAME_UNKNOWN: 2, MANIFEST_UNKNOWN: 2, UNAUTHORIZED: 2,
    DENIED: 2, UNSUPPORTED_MEDIA_TYPE: 2, DIGEST_INVALID: 2,
    BLOB_UNKNOWN: 1, BLOB_UPLOAD_INVALID: 1, BLOB_UPLOAD_UNKNOWN: 1, MANIFEST_BLOB_UNKNOWN: 1, MANIFEST_INVALID: 1, SIZE_INVALID: 1,
    UNSUPPORTED: 1, TOOMANYREQUESTS: 1, UNKNOWN: 1, DIGEST_MISMATCH: 1, SIZE_MISMATCH: 1, INVALID_RESPONSE: 1, TOKEN: 1, REDIRECT: 1,
    NETWORK: 1, ABORTED: 1, TIMEOUT: 1, SIZE_LIMIT: 1, INSECURE_CREDENTIALS: 1,
  },
  'strata.cache.CacheError': { INVALID_OPTION: 2, WRITE_FAILED: 1, UNREADABLE: 1 },
};

/** Codes whose messages begin with the name of the option or spec key at fault. */
const FIELD_CODES = new Set(['INVALID_OPTION', 'INVALID_SPEC', 'INVALID_CONFIG']);

/** True when `error` is one the contract says is the user's input or usage at fault. */
export function isInputError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return false;
  return Object.entries(EXIT_CODES).some(([brand, codes]) => (error as Record<symbol, unknown>)[Symbol.for(brand)] === true && codes[code] === 2);
}

/** The exit code and message the CLI reports for an error thrown by a command. */
export function describeError(error: unknown): { exitCode: number; message: string } {
  if (error instanceof CliError) return { exitCode: 2, message: error.message };
  if (error instanceof Error && error.name === 'AbortError') return { exitCode: 130, message: 'interrupted' };
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    // An option's message starts with the option's name already; other codes say what kind of failure it was.
    // Node's system errors (ENOENT, EACCES, ...) already start with their code.
    const named = typeof code === 'string' && /^[A-Z_]+$/.test(code) && !FIELD_CODES.has(code) && !error.message.startsWith(`${code}:`);
    const prefix = named ? `${code}: ` : '';
    return { exitCode: isInputError(error) ? 2 : 1, message: `${prefix}${error.message}` };
  }
  return { exitCode: 1, message: String(error) };
}
