export { DockerToolsError, type DockerToolsErrorCode } from './errors.js';
export {
  type ClosureOptions,
  type DateInput,
  type LayeredImageOptions,
  resolveLayeredOptions,
  type ResolvedLayeredOptions,
  type RunOptions,
} from './options.js';
export {
  CLOSURE_SOURCES,
  describeSpecError,
  parseLayeredSpec,
  type RawSpec,
  readSpecFile,
  resolveContentsPaths,
  SPEC_BUILDERS,
  SPEC_PATH_KEYS,
  specBuilder,
} from './spec.js';
export { parseBuildImageSpec } from './build-image-spec.js';
export type { BuiltImage } from './_built-image.js';
export { type BuildLayeredImageOptions, buildLayeredImage, streamLayeredImage } from './layered.js';
export { type BuildNixShellImageOptions, buildNixShellImage, type NixShellImageOptions, streamNixShellImage } from './nix-shell.js';
export { isNixShellSpec, NIX_SHELL_SPEC_PATH_KEYS, parseNixShellSpec } from './nix-shell-spec.js';
export { buildImage, buildImageWithNixDb } from './build-image.js';
export { type BuildImageOptions, resolveBuildImageOptions, type ResolvedBuildImageOptions } from './build-image-options.js';
export { type ExportedImage, exportImage, type ExportImageOptions } from './export-image.js';
export { type MergedImages, mergeImages, type MergeImagesOptions } from './merge-images.js';
