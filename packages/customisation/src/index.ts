export { buildCustomisationLayer, type BuildCustomisationOptions, type CustomisationLayer, type CustomisationSpec } from './build.js';
export { CustomisationError, type CustomisationErrorCode } from './errors.js';
export { type ContentsConflict, joinContents, type JoinContentsOptions } from './contents.js';
export { type FakerootEntry, parseFakerootState } from './fakeroot-state.js';
export {
  type CustomisationScriptOptions,
  type CustomisationScriptResult,
  type PathOwnership,
  runCustomisationScripts,
} from './scripts.js';
export { applyHelpers, type ApplyHelpersOptions, type FakeNssOptions, fakeNssFiles, type ImageHelpers, shadowSetupScript } from './helpers.js';
export { makeNixDb, type NixDbPath, writeNixDb, type WriteNixDbOptions } from './nix-db.js';
