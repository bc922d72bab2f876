import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { z } from 'zod';
import { type Compression, detectCompression, openTarSource, type TarSource } from './_tar-source.js';
import { walkTarHeaders } from './_tar-headers.js';
import { describeZodError, ManifestError } from './errors.js';
import type { ImageConfig } from './config.js';
import type { ArchiveLayer } from './write-archive.js';

export { type Compression, detectCompression } from './_tar-source.js';

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

interface Member {
  readonly offset: number;
  readonly size: number;
}

interface ArchiveIndex {
  readonly members: Map<string, Member>;
  /** Symlink members (docker save and skopeo link `<id>/layer.tar` to a shared file). */
  readonly links: Map<string, string>;
}

/** docker save writes a few members per layer: far more than any image has means it is not a docker-archive. */
const MAX_MEMBERS = 100_000;
/** manifest.json and each config are JSON of a few KiB; larger ones are refused, not read into memory. */
const MAX_JSON_BYTES = 16 << 20;
/** All JSON members read together (many images with distinct configs). */
const MAX_TOTAL_JSON_BYTES = 64 << 20;

/** Where a link member points, as an archive path: hard links name one, symlinks are relative to their directory. */
function linkTarget(name: string, type: 'symlink' | 'link', linkname: string): string {
  const target = type === 'link' ? posix.normalize(linkname) : posix.join(posix.dirname(name), linkname);
  return target.replace(/^\.\//, '');
}

/**
 * Indexes the tar from its headers: bodies are skipped by offset and nothing but names and offsets
 * is kept, so a 1 GiB archive costs milliseconds and memory does not grow with its members' sizes.
 */
async function indexArchive(file: string, source: TarSource): Promise<ArchiveIndex> {
  const members = new Map<string, Member>();
  const links = new Map<string, string>();
  let count = 0;
  for await (const h of walkTarHeaders((position, length) => source.read(position, length), source.size, file)) {
    if (++count > MAX_MEMBERS) throw new ManifestError('INVALID_ARCHIVE', `${file}: more than ${MAX_MEMBERS} members; not a docker-archive`);
    const name = h.name.replace(/^\.\//, '');
    if ((h.type === 'symlink' || h.type === 'link') && h.linkname) links.set(name, linkTarget(name, h.type, h.linkname));
    if (h.type !== 'file') continue;
    // A later member of the same name replaces an earlier one, as extracting the tar would.
    links.delete(name);
    members.set(name, { offset: h.offset, size: h.size });
  }
  return { members, links };
}

/** Follows member symlinks (a few hops at most) to the member holding the bytes. */
function resolveMember(index: ArchiveIndex, name: string): string {
  let current = name;
  for (let hops = 0; hops < 8 && index.links.has(current); hops++) current = index.links.get(current)!;
  return current;
}

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
async function readJsonMember(file: string, source: TarSource, index: ArchiveIndex, name: string): Promise<Buffer | undefined> {
  const member = index.members.get(resolveMember(index, name));
  if (!member) return undefined;
  if (member.size > MAX_JSON_BYTES) throw new ManifestError('INVALID_ARCHIVE', `${file}: ${name}: ${member.size} bytes, more than the ${MAX_JSON_BYTES} a JSON member may have`);
  return source.read(member.offset, member.size);
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
  const source = await openTarSource(file, options.signal);
  try {
    const images = await readImages(file, source, await indexArchive(file, source));
    // A plain file's layers are opened by path: nothing needs to stay open.
    if (!source.temporary) await source.close();
    return { file, compression: source.compression, images, close: () => source.close() };
  } catch (error) {
    await source.close();
    throw error;
  }
}

async function readImages(file: string, source: TarSource, index: ArchiveIndex): Promise<ArchivedImage[]> {
  const manifest = parseJson(ManifestSchema, await readJsonMember(file, source, index, 'manifest.json'), `${file}: manifest.json`);
  const configs = new Map<string, Buffer | undefined>();
  let jsonBytes = 0;
  const images: ArchivedImage[] = [];
  for (const [i, entry] of manifest.entries()) {
    const where = `${file}: manifest.json[${i}]`;
    if (!configs.has(entry.Config)) {
      const bytes = await readJsonMember(file, source, index, entry.Config);
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
      const member = index.members.get(resolveMember(index, path));
      if (!member) throw new ManifestError('INVALID_ARCHIVE', `${where}: layer ${path} is not in the archive`);
      const head = await source.read(member.offset, Math.min(4, member.size));
      const open = () => source.stream(member.offset, member.size);
      layers.push({ path, size: member.size, diffId: diffIds[j]!, compression: detectCompression(head), open });
    }
    const configDigest = `sha256:${createHash('sha256').update(configBytes!).digest('hex')}`;
    images.push({ repoTags: entry.RepoTags ?? [], configBytes: configBytes!, configDigest, config, layers });
  }
  return images;
}
