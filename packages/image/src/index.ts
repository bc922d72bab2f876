export { ImageError, type ImageErrorCode } from './errors.js';
export type { Image, Platform } from './image.js';
export { createLayer, type Layer, type LayerSource, type LayerStream } from './layer.js';
export { type Compression, COMPRESSOR_EXTENSIONS, type Compressor, compressStages, decompressor } from './compression.js';
export { writeDockerArchive, type WriteDockerArchiveOptions } from './docker-archive.js';
export { archivedImage, readImage, type ReadImageOptions } from './read.js';
export { mediaTypesFor, pushImage, type PushImageOptions } from './push.js';
export { writeAtomically } from './atomic.js';
export { type SavedImage, saveImage, type SaveImageOptions } from './save.js';
