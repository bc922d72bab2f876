import { type DockerArchiveStream, writeDockerArchive as writeArchive } from '@strata/manifest';
import type { Image } from './image.js';

/** Options for {@link writeDockerArchive}. */
export interface WriteDockerArchiveOptions {
  /** mtime of the archive's own members, seconds since the epoch. @default image.mtime, else 1 */
  readonly mtime?: number;
  /** Aborts writing; the stream is destroyed with the abort reason. @default none */
  readonly signal?: AbortSignal;
  /** Told when layer `index` (0-based) starts streaming (progress). @default none */
  readonly onLayer?: (index: number) => void;
}

/**
 * The docker-archive sink (`docker load`, `podman load`, skopeo `docker-archive:`): streams the
 * image in one pass over its layers, each read once and hashed on the way; the config, written
 * after them, lists the diffIDs learnt. The archive's exact size is known before the first byte.
 * @example
 * const image = await streamLayeredImage({ name: 'hello', contents: ['/nix/store/…-hello'] });
 * try {
 *   await pipeline(writeDockerArchive(image), createWriteStream('hello.tar'));
 * } finally {
 *   await image.dispose();
 * }
 */
export function writeDockerArchive(image: Image, options: WriteDockerArchiveOptions = {}): DockerArchiveStream {
  const layers = image.layers.map((layer, index) => ({
    size: layer.size,
    ...(layer.diffId === undefined ? {} : { diffId: layer.diffId }),
    open: () => {
      options.onLayer?.(index);
      return layer.open();
    },
  }));
  return writeArchive(layers, (diffIds) => image.config(diffIds), {
    repoTags: image.repoTags,
    mtime: options.mtime ?? image.mtime ?? 1,
    ...(options.signal ? { signal: options.signal } : {}),
  });
}
