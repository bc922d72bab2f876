export { splitDevice } from './device.js';
export { LayerError, type LayerErrorCode } from './errors.js';
export type { TarEntry, TarEntryType, TarHeader } from './tar-entry.js';
export { prepareWriteToFd, type TarStream, tarSize, writeTar, type WriteTarOptions, type WriteToFdOptions } from './tar.js';
export {
  type LayerEntry,
  type LayerPlan,
  type Ownership,
  type OwnershipOverride,
  plannedEntries,
  scanDirectoryLayer,
  type ScanDirectoryLayerOptions,
  scanLayer,
  scanLayerSync,
  type ScanLayerOptions,
} from './scan.js';
export { packLayer, type PackLayerOptions } from './pack.js';
export { readTar, type TarMember } from './read.js';
export { LAYER_FORMAT_VERSION } from './format.js';
export { readdirNames, readlinkName } from './names.js';
export { type ArchiveSink, INLINE, type InlineArchive } from './_produce.js';
export { encodeHeader } from './_header.js';
