export { type MissingInput, MissingInputsError, NixShellError, type NixShellErrorCode } from './errors.js';
export { type NixShellImageOptions, type ResolvedNixShellImageOptions, resolveNixShellImageOptions } from './options.js';
export { nixShellEnv, type NixShellEnvOptions, passAsFileNames, SANDBOX_BUILD_DIR } from './env.js';
export { type RcfileOptions, renderRcfile } from './rcfile.js';
export { buildDerivationScript } from './build-derivation.js';
export { type GeneratedFile, type GeneratedStorePath, generateScriptBin, generateTextFile, passAsFileStoreName } from './generated.js';
export { resolveShellInputs, type ResolveShellInputsOptions } from './inputs.js';
export { type NixShellImage, type NixShellImageConfig, planNixShellImage, prepareNixShellImage } from './prepare.js';
