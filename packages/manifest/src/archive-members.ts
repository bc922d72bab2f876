import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { type Compression, detectCompression, openTarSource, type TarSource } from './_tar-source.js';
import { walkTarHeaders } from './_tar-headers.js';
import { ManifestError } from './errors.js';

export { type Compression, detectCompression } from './_tar-source.js';

interface Member {
  readonly offset: number;
  readonly size: number;
}

/** Options for {@link readArchiveMembers}. */
export interface ReadArchiveMembersOptions {
  /** Stops decompressing a compressed archive; its temporary copy is removed. @default none */
  readonly signal?: AbortSignal;
  /** Where the decompressed copy of a compressed archive (or a pipe) is made, unnamed. @default os.tmpdir() */
  readonly tmpDir?: string;
  /** Refuse an archive with more members than this (an image archive has a few per layer). @default 100000 */
  readonly maxMembers?: number;
}

/** The members of a tar file (plain, gzip or zstd, a file or a pipe), indexed once, each re-openable. */
export interface ArchiveMembers {
  readonly file: string;
  /** Compression of the whole file. */
  readonly compression: Compression;
  /** The member `name` names once symlinks and hard links are followed, or undefined when there is none. */
  resolve(name: string): string | undefined;
  /** A member's size and the compression its first bytes show, or undefined when there is none. */
  stat(name: string): Promise<{ readonly size: number; readonly compression: Compression } | undefined>;
  /** A member's bytes, refused (naming the member) when it is larger than `limit`. */
  read(name: string, limit: number): Promise<Buffer>;
  /** Streams a member by its offset. */
  open(name: string): Readable;
  /**
   * Releases the file and the decompressed copy of a compressed archive (or one read from a pipe).
   * A plain file's members can still be opened afterwards (by path); nothing else can. Idempotent.
   */
  close(): Promise<void>;
  /** True when `close()` releases a temporary decompressed copy the members are read from. */
  readonly temporary: boolean;
}

const DEFAULT_MAX_MEMBERS = 100_000;

/** Where a link member points, as an archive path: hard links name one, symlinks are relative to their directory. */
function linkTarget(name: string, type: 'symlink' | 'link', linkname: string): string {
  const target = type === 'link' ? posix.normalize(linkname) : posix.join(posix.dirname(name), linkname);
  return target.replace(/^\.\//, '');
}

/**
 * Indexes a tar file's members from their headers: bodies are skipped by offset and only names and
 * offsets are kept, so a 1 GiB archive costs milliseconds and memory does not grow with the
 * members' sizes. A compressed archive (or a pipe) is decompressed once into an unnamed temporary
 * file under TMPDIR (within its free space), which `close()` releases; nothing is ever left there
 * by name. Names are as in the archive without a leading `./`; a later member of the same name
 * replaces an earlier one, as extracting would.
 * @example
 * const members = await readArchiveMembers('image.oci.tar');
 * try {
 *   const index = await members.read('index.json', 1 << 20);
 * } finally {
 *   await members.close();
 * }
 */
export async function readArchiveMembers(file: string, options: ReadArchiveMembersOptions = {}): Promise<ArchiveMembers> {
  const maxMembers = options.maxMembers ?? DEFAULT_MAX_MEMBERS;
  const source: TarSource = await openTarSource(file, { signal: options.signal, tmpDir: options.tmpDir });
  const members = new Map<string, Member>();
  const links = new Map<string, string>();
  try {
    let count = 0;
    for await (const h of walkTarHeaders((position, length) => source.read(position, length), source.size, file)) {
      if (++count > maxMembers) throw new ManifestError('INVALID_ARCHIVE', `${file}: more than ${maxMembers} members; not an image archive`);
      const name = h.name.replace(/^\.\//, '');
      if ((h.type === 'symlink' || h.type === 'link') && h.linkname) links.set(name, linkTarget(name, h.type, h.linkname));
      if (h.type !== 'file') continue;
      links.delete(name);
      members.set(name, { offset: h.offset, size: h.size });
    }
  } catch (error) {
    await source.close();
    throw error;
  }
  const resolve = (name: string): string | undefined => {
    let current = name.replace(/^\.\//, '');
    // Follows member links a few hops at most (docker save links `<id>/layer.tar` to a shared file).
    for (let hops = 0; hops < 8 && links.has(current); hops++) current = links.get(current)!;
    return members.has(current) ? current : undefined;
  };
  const member = (name: string): Member | undefined => {
    const target = resolve(name);
    return target === undefined ? undefined : members.get(target);
  };
  return {
    file,
    compression: source.compression,
    temporary: source.temporary,
    resolve,
    async stat(name) {
      const m = member(name);
      if (!m) return undefined;
      return { size: m.size, compression: detectCompression(await source.read(m.offset, Math.min(4, m.size))) };
    },
    async read(name, limit) {
      const m = member(name);
      if (!m) throw new ManifestError('INVALID_ARCHIVE', `${file}: no member ${name}`);
      if (m.size > limit) throw new ManifestError('INVALID_ARCHIVE', `${file}: ${name}: ${m.size} bytes, more than the ${limit} it may have`);
      return source.read(m.offset, m.size);
    },
    open(name) {
      const m = member(name);
      if (!m) throw new ManifestError('INVALID_ARCHIVE', `${file}: no member ${name}`);
      return source.stream(m.offset, m.size);
    },
    close: () => source.close(),
  };
}
