import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { createGunzip } from 'node:zlib';
import { readTar } from '@strata/layer';
import { z } from 'zod';
import { walkTarHeaders } from './_tar-headers.js';
import { describeZodError, ManifestError } from './errors.js';
import type { ImageConfig } from './config.js';
import type { ArchiveLayer } from './write-archive.js';
import { createZstdDecompress } from './zstd.js';

/** How bytes are compressed, detected from their magic number. */
export type Compression = 'none' | 'gzip' | 'zstd';

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

/** Detects gzip or zstd from the first bytes. */
export function detectCompression(head: Uint8Array): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

function decompressor(compression: Compression): NodeJS.ReadWriteStream | undefined {
  if (compression === 'gzip') return createGunzip();
  if (compression === 'zstd') return createZstdDecompress();
  return undefined;
}

function openArchive(file: string, compression: Compression): Readable {
  const raw = createReadStream(file, { highWaterMark: 1 << 20 });
  const inflate = decompressor(compression);
  if (!inflate) return raw;
  raw.on('error', (e) => (inflate as unknown as Readable).destroy(e));
  return raw.pipe(inflate) as unknown as Readable;
}

interface Member {
  readonly offset: number;
  readonly size: number;
  readonly head: Buffer;
}

interface ArchiveIndex {
  readonly members: Map<string, Member>;
  readonly small: Map<string, Buffer>;
  /** Symlink members (docker save and skopeo link `<id>/layer.tar` to a shared file). */
  readonly links: Map<string, string>;
}

/** manifest.json and configs are small; keep every small member (configs may be named blobs/sha256/<hex>). */
function isSmall(name: string, size: number): boolean {
  return size <= 1 << 20 || (name.endsWith('.json') && size <= 64 << 20);
}

/** Where a link member points, as an archive path: hard links name one, symlinks are relative to their directory. */
function linkTarget(name: string, type: 'symlink' | 'link', linkname: string): string {
  const target = type === 'link' ? posix.normalize(linkname) : posix.join(posix.dirname(name), linkname);
  return target.replace(/^\.\//, '');
}

/**
 * Indexes an uncompressed archive from its tar headers: bodies are skipped by offset, and only small
 * members and the first bytes of each large one are read, so a 1 GiB archive costs milliseconds.
 */
async function indexPlainArchive(file: string): Promise<ArchiveIndex> {
  const members = new Map<string, Member>();
  const small = new Map<string, Buffer>();
  const links = new Map<string, string>();
  const handle = await openFile(file, 'r');
  try {
    const { size: fileSize } = await handle.stat();
    for await (const h of walkTarHeaders(handle, fileSize, file)) {
      const name = h.name.replace(/^\.\//, '');
      if ((h.type === 'symlink' || h.type === 'link') && h.linkname) links.set(name, linkTarget(name, h.type, h.linkname));
      if (h.type !== 'file') continue;
      const bytes = Buffer.alloc(isSmall(name, h.size) ? h.size : Math.min(4, h.size));
      await handle.read(bytes, 0, bytes.length, h.offset);
      if (bytes.length === h.size) small.set(name, bytes);
      // A later member of the same name replaces an earlier one, as extracting the tar would.
      links.delete(name);
      members.set(name, { offset: h.offset, size: h.size, head: bytes.subarray(0, 4) });
    }
  } finally {
    await handle.close();
  }
  return { members, small, links };
}

/** Indexes a compressed archive: it cannot seek, so every byte is decompressed once (costs as much as reading the layers). */
async function indexCompressedArchive(file: string, compression: Compression): Promise<ArchiveIndex> {
  const members = new Map<string, Member>();
  const small = new Map<string, Buffer>();
  const links = new Map<string, string>();
  for await (const m of readTar(openArchive(file, compression))) {
    const name = m.name.replace(/^\.\//, '');
    if ((m.type === 'symlink' || m.type === 'link') && m.linkname) links.set(name, linkTarget(name, m.type, m.linkname));
    if (m.type !== 'file') continue;
    if (isSmall(name, m.size)) {
      const bytes = await buffer(m.body);
      small.set(name, bytes);
      members.set(name, { offset: m.offset, size: m.size, head: bytes.subarray(0, 4) });
      continue;
    }
    let head = Buffer.alloc(0);
    for await (const chunk of m.body as AsyncIterable<Buffer>) if (head.length < 4) head = Buffer.concat([head, chunk.subarray(0, 4)]);
    members.set(name, { offset: m.offset, size: m.size, head });
  }
  return { members, small, links };
}

/** Follows member symlinks (a few hops at most) to the member holding the bytes. */
function resolveMember(index: ArchiveIndex, name: string): string {
  let current = name;
  for (let hops = 0; hops < 8 && index.links.has(current); hops++) current = index.links.get(current)!;
  return current;
}

function openMember(file: string, compression: Compression, name: string, member: Member): Readable {
  if (compression === 'none') {
    return member.size === 0 ? PassThrough.from([]) : createReadStream(file, { start: member.offset, end: member.offset + member.size - 1, highWaterMark: 1 << 20 });
  }
  // A compressed archive cannot seek: decompress again up to the member and pass its bytes on.
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  (async () => {
    for await (const m of readTar(openArchive(file, compression))) {
      if (m.name.replace(/^\.\//, '') !== name) continue;
      for await (const chunk of m.body) if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
      out.end();
      return;
    }
    throw new ManifestError('INVALID_ARCHIVE', `${file}: member ${name} disappeared`);
  })().catch((e: unknown) => out.destroy(e as Error));
  return out;
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

async function readCompression(file: string): Promise<Compression> {
  const handle = await openFile(file, 'r').catch((e: unknown) => {
    throw new ManifestError('NOT_FOUND', `${file}: cannot open: ${(e as Error).message}`, { cause: e });
  });
  try {
    const head = Buffer.alloc(4);
    await handle.read(head, 0, 4, 0);
    return detectCompression(head);
  } finally {
    await handle.close();
  }
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
  const compression = await readCompression(file);
  const index = compression === 'none' ? await indexPlainArchive(file) : await indexCompressedArchive(file, compression);
  const { members, small } = index;
  const manifest = parseJson(ManifestSchema, small.get('manifest.json'), `${file}: manifest.json`);
  const images = manifest.map((entry, i): ArchivedImage => {
    const where = `${file}: manifest.json[${i}]`;
    const configBytes = small.get(entry.Config);
    const config = parseJson(ConfigSchema, configBytes, `${file}: ${entry.Config}`) as unknown as ImageConfig;
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== entry.Layers.length) {
      throw new ManifestError('INVALID_ARCHIVE', `${where}: ${entry.Layers.length} layers but ${diffIds.length} diff_ids in ${entry.Config}`);
    }
    const layers = entry.Layers.map((path, j): ArchivedLayer => {
      const target = resolveMember(index, path);
      const member = members.get(target);
      if (!member) throw new ManifestError('INVALID_ARCHIVE', `${where}: layer ${path} is not in the archive`);
      return { path, size: member.size, diffId: diffIds[j]!, compression: detectCompression(member.head), open: () => openMember(file, compression, target, member) };
    });
    const configDigest = `sha256:${createHash('sha256').update(configBytes!).digest('hex')}`;
    return { repoTags: entry.RepoTags ?? [], configBytes: configBytes!, configDigest, config, layers };
  });
  return { file, compression, images };
}
