export { DockerToolsError, type DockerToolsErrorCode } from './errors.js';
export {
  type ClosureOptions,
  type DateInput,
  type LayeredImageOptions,
  resolveLayeredOptions,
  type ResolvedLayeredOptions,
  type RunOptions,
} from './options.js';
export { describeSpecError, parseLayeredSpec, type RawSpec, readSpecFile, resolveContentsPaths, SPEC_PATH_KEYS } from './spec.js';
export { type BuildLayeredImageOptions, type BuiltImage, buildLayeredImage, streamLayeredImage } from './layered.js';
