export { ManifestError, type ManifestErrorCode } from './errors.js';
export {
  type ContainerConfig,
  ContainerConfigSchema,
  createImageConfig,
  type CreateImageConfigOptions,
  type HistoryEntry,
  hostArchitecture,
  type ImageConfig,
  mergeEnv,
  normalizeCreated,
  parseContainerConfig,
  serializeImageConfig,
} from './config.js';
export { imageTag, repoTag } from './tag.js';
export { createZstdCompress, createZstdDecompress } from './zstd.js';
export {
  type ArchiveConfig,
  type ArchiveLayer,
  type DockerArchiveStream,
  type ImageConfigTemplate,
  imageConfigBytes,
  layerMemberName,
  writeDockerArchive,
  type WriteDockerArchiveOptions,
} from './write-archive.js';
export {
  type ArchivedImage,
  type ArchivedLayer,
  type Compression,
  detectCompression,
  type DockerArchive,
  readDockerArchive,
} from './read-archive.js';
export {
  type ArchiveImage,
  type MultiImageArchiveStream,
  writeMultiImageArchive,
  type WriteMultiImageArchiveOptions,
} from './write-multi-archive.js';
