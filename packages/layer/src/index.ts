export {
  applyHelpers,
  type ApplyHelpersOptions,
  type ContentsConflict,
  CustomisationError,
  type CustomisationErrorCode,
  type CustomisationScriptOptions,
  type CustomisationScriptResult,
  type FakeNssOptions,
  type FakerootEntry,
  fakeNssFiles,
  type ImageHelpers,
  joinContents,
  type JoinContentsOptions,
  makeNixDb,
  type NixDbPath,
  parseFakerootState,
  type PathOwnership,
  runCustomisationScripts,
  shadowSetupScript,
  splitDevice,
  writeNixDb,
  type WriteNixDbOptions,
} from './customisation/index.js';
export { LayerError, type LayerErrorCode } from './errors.js';
export type { TarEntry, TarEntryType, TarHeader } from './tar-entry.js';
export { prepareWriteToFd, type TarStream, tarSize, writeTar, type WriteTarOptions, type WriteToFdOptions } from './tar.js';
export {
  type LayerEntry,
  type LayerPlan,
  type Ownership,
  type OwnershipOverride,
  scanDirectoryLayer,
  type ScanDirectoryLayerOptions,
  scanLayer,
  type ScanLayerOptions,
} from './scan.js';
export { packLayer, type PackLayerOptions } from './pack.js';
export { readTar, type TarMember } from './read.js';
