import { createHash } from 'node:crypto';
import * as z from 'zod';
import { type ArchiveMembers, type Compression, readArchiveMembers } from './archive-members.js';
import { describeZodError, ManifestError } from './errors.js';
import type { ImageConfig } from './config.js';
import type { ArchiveLayer } from './write-archive.js';

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
  /**
   * Releases the decompressed copy of a compressed archive (or one read from a pipe); its layers
   * cannot be opened afterwards. Does nothing for a plain file. Idempotent.
   */
  close(): Promise<void>;
}

/** Options for {@link readDockerArchive}. */
export interface ReadDockerArchiveOptions {
  /** Stops decompressing a compressed archive; its temporary copy is removed. @default none */
  readonly signal?: AbortSignal;
  /** Where the decompressed copy of a compressed archive (or a pipe) is made, unnamed. @default os.tmpdir() */
  readonly tmpDir?: string;
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

/** manifest.json and each config are JSON of a few KiB; larger ones are refused, not read into memory. */
const MAX_JSON_BYTES = 16 << 20;
/** All JSON members read together (many images with distinct configs). */
const MAX_TOTAL_JSON_BYTES = 64 << 20;

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

/** A JSON member (manifest.json, a config), read on demand within the size limit. */
async function readJsonMember(members: ArchiveMembers, name: string): Promise<Buffer | undefined> {
  if (members.resolve(name) === undefined) return undefined;
  return members.read(name, MAX_JSON_BYTES);
}

/**
 * Reads a docker-archive (as written by strata, nixpkgs, `docker save`, `podman save` or skopeo;
 * plain, gzip or zstd; a file or a pipe): its images, configs and layers. Layers are not loaded:
 * each `open()` streams the member by offset. Indexing a plain file reads its tar headers only; a
 * compressed archive (or a pipe) is decompressed once into an unnamed temporary file under TMPDIR
 * (within its free space), which `close()` releases; nothing is ever left there by name. Memory
 * stays bounded whatever the archive holds.
 * @example
 * const archive = await readDockerArchive('base.tar.gz');
 * try {
 *   for (const layer of archive.images[0].layers) console.log(layer.path, layer.size, layer.diffId);
 * } finally {
 *   await archive.close();
 * }
 */
export async function readDockerArchive(file: string, options: ReadDockerArchiveOptions = {}): Promise<DockerArchive> {
  const members = await readArchiveMembers(file, { ...(options.signal ? { signal: options.signal } : {}), ...(options.tmpDir ? { tmpDir: options.tmpDir } : {}) });
  try {
    const images = await readImages(file, members);
    // A plain file's layers are opened by path: nothing needs to stay open.
    if (!members.temporary) await members.close();
    return { file, compression: members.compression, images, close: () => members.close() };
  } catch (error) {
    await members.close();
    throw error;
  }
}

async function readImages(file: string, members: ArchiveMembers): Promise<ArchivedImage[]> {
  const manifest = parseJson(ManifestSchema, await readJsonMember(members, 'manifest.json'), `${file}: manifest.json`);
  const configs = new Map<string, Buffer | undefined>();
  let jsonBytes = 0;
  const images: ArchivedImage[] = [];
  for (const [i, entry] of manifest.entries()) {
    const where = `${file}: manifest.json[${i}]`;
    if (!configs.has(entry.Config)) {
      const bytes = await readJsonMember(members, entry.Config);
      jsonBytes += bytes?.length ?? 0;
      if (jsonBytes > MAX_TOTAL_JSON_BYTES) throw new ManifestError('INVALID_ARCHIVE', `${where}: the configs exceed ${MAX_TOTAL_JSON_BYTES} bytes together`);
      configs.set(entry.Config, bytes);
    }
    const configBytes = configs.get(entry.Config);
    const config = parseJson(ConfigSchema, configBytes, `${file}: ${entry.Config}`) as unknown as ImageConfig;
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== entry.Layers.length) {
      throw new ManifestError('INVALID_ARCHIVE', `${where}: ${entry.Layers.length} layers but ${diffIds.length} diff_ids in ${entry.Config}`);
    }
    const layers: ArchivedLayer[] = [];
    for (const [j, path] of entry.Layers.entries()) {
      const member = await members.stat(path);
      if (!member) throw new ManifestError('INVALID_ARCHIVE', `${where}: layer ${path} is not in the archive`);
      layers.push({ path, size: member.size, diffId: diffIds[j]!, compression: member.compression, open: () => members.open(path) });
    }
    const configDigest = `sha256:${createHash('sha256').update(configBytes!).digest('hex')}`;
    images.push({ repoTags: entry.RepoTags ?? [], configBytes: configBytes!, configDigest, config, layers });
  }
  return images;
}
