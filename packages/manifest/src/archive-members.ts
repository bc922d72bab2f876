import { createReadStream } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { createGunzip } from 'node:zlib';
import { readTar } from '@strata/layer';
import { walkTarHeaders } from './_tar-headers.js';
import { ManifestError } from './errors.js';
import { createZstdDecompress } from './zstd.js';

/** How bytes are compressed, detected from their magic number. */
export type Compression = 'none' | 'gzip' | 'zstd';

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

/** The members of a tar file (plain, gzip or zstd), indexed once, each re-openable. */
export interface ArchiveMembers {
  readonly file: string;
  /** Compression of the whole file. */
  readonly compression: Compression;
  /** The member `name` names once symlinks and hard links are followed, or undefined when there is none. */
  resolve(name: string): string | undefined;
  /** A member's size and the compression its first bytes show. */
  stat(name: string): { readonly size: number; readonly compression: Compression } | undefined;
  /** A small member's bytes (up to 1 MiB, or a `.json` up to 64 MiB), kept from indexing. */
  small(name: string): Buffer | undefined;
  /** Streams a member (by offset in a plain file; a compressed file is decompressed up to it again). */
  open(name: string): Readable;
}

/**
 * Indexes a tar file's members: a plain file by its headers alone (bodies are skipped by offset), a
 * compressed one by decompressing it once. Names are as in the archive without a leading `./`.
 * @example
 * const members = await readArchiveMembers('image.oci.tar');
 * members.small('index.json');
 */
export async function readArchiveMembers(file: string): Promise<ArchiveMembers> {
  const compression = await readCompression(file);
  const index = compression === 'none' ? await indexPlainArchive(file) : await indexCompressedArchive(file, compression);
  const resolve = (name: string) => {
    const target = resolveMember(index, name.replace(/^\.\//, ''));
    return index.members.has(target) ? target : undefined;
  };
  return {
    file,
    compression,
    resolve,
    stat(name) {
      const target = resolve(name);
      const member = target === undefined ? undefined : index.members.get(target);
      return member ? { size: member.size, compression: detectCompression(member.head) } : undefined;
    },
    small: (name) => {
      const target = resolve(name);
      return target === undefined ? undefined : index.small.get(target);
    },
    open(name) {
      const target = resolve(name);
      const member = target === undefined ? undefined : index.members.get(target);
      if (target === undefined || !member) throw new ManifestError('INVALID_ARCHIVE', `${file}: no member ${name}`);
      return openMember(file, compression, target, member);
    },
  };
}
