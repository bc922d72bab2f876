import { type ArchivedImage, type DockerArchive, readDockerArchive } from '@strata/manifest';
import { ImageError } from './errors.js';
import type { Image } from './image.js';
import { createLayer } from './layer.js';

/** Options for {@link readImage}. */
export interface ReadImageOptions {
  /**
   * Which image of a multi-image archive: its repository name (nixpkgs' `fromImageName`). Used only
   * together with `tag`, as nixpkgs does; otherwise the first image is taken. @default the first
   */
  readonly name?: string;
  /** The tag to go with `name` (nixpkgs' `fromImageTag`). @default the first image */
  readonly tag?: string;
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

function select(archive: DockerArchive, options: ReadImageOptions): ArchivedImage {
  const [first] = archive.images;
  if (!first) throw new ImageError('INVALID_IMAGE', `${archive.file}: manifest.json lists no image`);
  if (options.name === undefined || options.tag === undefined) return first;
  const wanted = `${options.name}:${options.tag}`;
  const found = archive.images.find((image) => image.repoTags.includes(wanted));
  if (found) return found;
  const available = archive.images.flatMap((image) => image.repoTags);
  throw new ImageError('INVALID_IMAGE', `${archive.file}: no image ${wanted} (the archive has ${available.length > 0 ? available.join(', ') : 'only untagged images'})`);
}

/** Wraps an archived image as a lazy {@link Image}: its layers are read from the file when a sink pulls, and checked against its diffIDs. */
export function archivedImage(file: string, image: ArchivedImage): Image {
  const where = `${file}: ${image.repoTags[0] ?? image.configDigest}`;
  image.config.rootfs.diff_ids.forEach((diffId, i) => {
    if (!DIGEST.test(diffId)) throw new ImageError('INVALID_IMAGE', `${where}: rootfs.diff_ids[${i}] is not a sha256 digest: ${JSON.stringify(diffId).slice(0, 80)}`);
  });
  const layers = image.layers.map((l, i) =>
    createLayer({ size: l.size, compression: l.compression, diffId: l.diffId, open: () => l.open(), name: `${where}: layer ${i + 1} (${l.path})` }),
  );
  const declared = image.config.rootfs.diff_ids;
  return {
    repoTags: image.repoTags,
    platform: { os: image.config.os, architecture: image.config.architecture, ...(variantOf(image) ? { variant: variantOf(image)! } : {}) },
    layers,
    config(diffIds) {
      const wrong = declared.findIndex((d, i) => diffIds[i] !== d);
      if (wrong !== -1 || diffIds.length !== declared.length) {
        const at = wrong === -1 ? declared.length : wrong;
        throw new ImageError('DIGEST_MISMATCH', `${where}: layer ${at + 1} has diffID ${diffIds[at] ?? 'none'}, the config declares ${declared[at] ?? 'none'}`);
      }
      return image.configBytes;
    },
    dispose: async () => {},
  };
}

function variantOf(image: ArchivedImage): string | undefined {
  const variant = (image.config as { variant?: unknown }).variant;
  return typeof variant === 'string' && variant !== '' ? variant : undefined;
}

/**
 * Reads an image from a docker-archive (strata, nixpkgs, `docker save`, `podman save`, skopeo;
 * plain, gzip or zstd) as a lazy {@link Image}. Only the archive's index is read now; each layer is
 * read when a sink pulls it and checked against the diffID the config declares.
 * @example
 * const base = await readImage('base.tar', { name: 'redis', tag: 'latest' });
 * base.layers.length; base.platform.architecture;
 */
export async function readImage(file: string, options: ReadImageOptions = {}): Promise<Image> {
  return archivedImage(file, select(await readDockerArchive(file), options));
}
