import { createHash } from 'node:crypto';
import { z } from 'zod';
import { type Compression, readArchiveMembers } from './archive-members.js';
import { describeZodError, ManifestError } from './errors.js';
import type { ImageConfig } from './config.js';
import type { ArchiveLayer } from './write-archive.js';

export type { Compression } from './archive-members.js';

/** A layer inside an archive, re-openable (each `open()` reads it again). */
export interface ArchivedLayer extends ArchiveLayer {
  /** Member name in the archive, as `manifest.json` lists it. */
  readonly path: string;
  /** The uncompressed-tar digest from the image config. */
  readonly diffId: string;
  /** Compression of the member's bytes (layers may be stored compressed). */
  readonly compression: Compression;
}

/** One image of an archive. */
export interface ArchivedImage {
  readonly repoTags: readonly string[];
  /** The exact config bytes and their digest (the image ID). */
  readonly configBytes: Buffer;
  readonly configDigest: string;
  readonly config: ImageConfig;
  readonly layers: readonly ArchivedLayer[];
}

/** A docker-archive read from a file: every image `manifest.json` describes. */
export interface DockerArchive {
  readonly file: string;
  /** Compression of the whole file. */
  readonly compression: Compression;
  readonly images: readonly ArchivedImage[];
}

const ManifestSchema = z.array(
  z.object({ Config: z.string(), RepoTags: z.array(z.string()).nullish(), Layers: z.array(z.string()) }).loose(),
);
const ConfigSchema = z
  .object({
    architecture: z.string(),
    os: z.string(),
    rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(z.string()) }).loose(),
  })
  .loose();

function parseJson<T>(schema: z.ZodType<T>, bytes: Buffer | undefined, where: string): T {
  if (!bytes) throw new ManifestError('INVALID_ARCHIVE', `${where}: missing from the archive`);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new ManifestError('INVALID_ARCHIVE', `${where}: not JSON`, { cause: error });
  }
  const result = schema.safeParse(value);
  if (!result.success) throw new ManifestError('INVALID_ARCHIVE', describeZodError(result.error, where), { cause: result.error });
  return result.data;
}

/**
 * Reads a docker-archive (as written by strata, nixpkgs, `docker save`, `podman save` or skopeo;
 * plain, gzip or zstd): its images, configs and layers. Layers are not loaded: each `open()`
 * streams the member from the file (by offset when the file is not compressed). Indexing a plain
 * archive reads its tar headers only; a compressed one must be decompressed in full once.
 * @example
 * const { images: [image] } = await readDockerArchive('base.tar');
 * for (const layer of image.layers) console.log(layer.path, layer.size, layer.diffId);
 */
export async function readDockerArchive(file: string): Promise<DockerArchive> {
  const archive = await readArchiveMembers(file);
  const manifest = parseJson(ManifestSchema, archive.small('manifest.json'), `${file}: manifest.json`);
  const images = manifest.map((entry, i): ArchivedImage => {
    const where = `${file}: manifest.json[${i}]`;
    const configBytes = archive.small(entry.Config);
    const config = parseJson(ConfigSchema, configBytes, `${file}: ${entry.Config}`) as unknown as ImageConfig;
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== entry.Layers.length) {
      throw new ManifestError('INVALID_ARCHIVE', `${where}: ${entry.Layers.length} layers but ${diffIds.length} diff_ids in ${entry.Config}`);
    }
    const layers = entry.Layers.map((path, j): ArchivedLayer => {
      const member = archive.stat(path);
      if (!member) throw new ManifestError('INVALID_ARCHIVE', `${where}: layer ${path} is not in the archive`);
      return { path, size: member.size, diffId: diffIds[j]!, compression: member.compression, open: () => archive.open(path) };
    });
    const configDigest = `sha256:${createHash('sha256').update(configBytes!).digest('hex')}`;
    return { repoTags: entry.RepoTags ?? [], configBytes: configBytes!, configDigest, config, layers };
  });
  return { file, compression: archive.compression, images };
}
