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
export { checkImageName, imageTag, repoTag } from './tag.js';
export { createZstdCompress, createZstdDecompress, type ZstdCompressOptions, zstdVersion } from './zstd.js';
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
  type DockerArchive,
  readDockerArchive,
  type ReadDockerArchiveOptions,
} from './read-archive.js';
export { type UnsizedArchiveLayer, writeDockerArchiveFile, type WriteDockerArchiveFileOptions } from './write-archive-file.js';
export { type ArchiveMembers, type Compression, detectCompression, readArchiveMembers, type ReadArchiveMembersOptions } from './archive-members.js';
export {
  type ArchiveImage,
  type MultiImageArchiveStream,
  writeMultiImageArchive,
  type WriteMultiImageArchiveOptions,
} from './write-multi-archive.js';
