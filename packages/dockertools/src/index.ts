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
export { type BuildNixShellImageOptions, buildNixShellImage, type NixShellImageOptions, streamNixShellImage } from './nix-shell.js';
export { isNixShellSpec, NIX_SHELL_SPEC_PATH_KEYS, parseNixShellSpec } from './nix-shell-spec.js';
export { type ExportedImage, exportImage, type ExportImageOptions } from './export-image.js';
export { type MergedImages, mergeImages, type MergeImagesOptions } from './merge-images.js';
