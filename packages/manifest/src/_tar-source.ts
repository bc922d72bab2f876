import { closeSync, createReadStream, openSync, readSync, type Stats } from 'node:fs';
import { type FileHandle, mkdtemp, open, rm, stat, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { type ArchiveSink, INLINE, type InlineArchive } from '@strata/layer';
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

/** The uncompressed tar bytes of an archive, readable at any offset. */
export interface TarSource {
  /** Compression of the archive as given. */
  readonly compression: Compression;
  /** Byte length of the uncompressed tar. */
  readonly size: number;
  /** Reads `length` bytes at `position` (fewer at the end). */
  read(position: number, length: number): Promise<Buffer>;
  /** Streams `length` bytes from `position`. */
  stream(position: number, length: number): Readable;
  /**
   * True when the bytes are a temporary decompressed copy that only `close()` releases; false for
   * a plain file, whose streams open it by path (so it may be closed as soon as it is indexed).
   */
  readonly temporary: boolean;
  /** Releases the file (and with it the decompressed copy). Idempotent. */
  close(): Promise<void>;
}

function kindOf(st: Stats): string {
  return st.isDirectory() ? 'a directory' : st.isSocket() ? 'a socket' : 'a device';
}

/**
 * Keeps the decompressed copy within the free space of its file system, less a reserve, so a gzip
 * bomb (a few MB that inflate to terabytes) fails with a clear error instead of filling the disk.
 */
export function spaceGuard(file: string, dir: string, free: number, chosen: boolean): Transform {
  // Name the knob the caller has: a library caller's own tmpDir, or the environment's TMPDIR.
  const hint = chosen ? 'give a tmpDir on a larger file system' : 'set TMPDIR to a larger file system';
  let written = 0;
  return new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      written += chunk.length;
      if (written > free) {
        const gib = (free / 2 ** 30).toFixed(1);
        return callback(new ManifestError('UNSUPPORTED', `${file}: decompresses to more than the ${gib} GiB free in ${dir} (${hint})`));
      }
      callback(null, chunk);
    },
  });
}

/** The free bytes of the file system holding `dir`, less 5% of its size (or 256 MiB when smaller). */
async function freeBytes(dir: string): Promise<number> {
  const fs = await statfs(dir);
  const reserve = Math.min(fs.blocks * fs.bsize * 0.05, 256 * 2 ** 20);
  return Math.max(0, fs.bavail * fs.bsize - reserve);
}

/**
 * A temporary file with no name: created in a private directory under TMPDIR, then unlinked at
 * once. Only the open descriptor keeps it, so it goes away when the descriptor is closed, whether
 * reading succeeds, fails, is aborted, or the process is killed.
 */
async function unnamedFile(parent: string): Promise<{ handle: FileHandle; dir: string }> {
  const dir = await mkdtemp(join(parent, 'strata-archive-'));
  try {
    return { handle: await open(join(dir, 'archive.tar'), 'wx+', 0o600), dir: parent };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function decompressor(compression: Compression): NodeJS.ReadWriteStream[] {
  // 256 KiB a call instead of zlib's 16 KiB: a sixteenth of the thread-pool round trips and writes.
  if (compression === 'gzip') return [createGunzip({ chunkSize: 256 * 1024 })];
  if (compression === 'zstd') return [createZstdDecompress()];
  return [];
}

/** Reads the first bytes of a stream without losing them: the head, and the stream to read everything from. */
async function peek(source: Readable, bytes: number): Promise<{ head: Buffer; all: Readable }> {
  const chunks: Buffer[] = [];
  let length = 0;
  const ended = await new Promise<boolean>((resolve, reject) => {
    const stop = (end: boolean) => {
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', reject);
      source.pause();
      resolve(end);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= bytes) stop(false);
    };
    const onEnd = () => stop(true);
    source.on('data', onData);
    source.once('end', onEnd);
    source.once('error', reject);
  });
  const head = Buffer.concat(chunks, length);
  if (ended) return { head, all: Readable.from([head]) };
  source.unshift(head);
  return { head, all: source };
}

/**
 * Streams a range of a file by positional reads on a shared handle: several may run side by side,
 * and destroying one (an aborted consumer) leaves the handle open for the others.
 */
function rangeStream(handle: FileHandle, start: number, length: number): Readable {
  let position = start;
  const end = start + length;
  return new Readable({
    highWaterMark: 1 << 20,
    read(size) {
      const want = Math.min(Math.max(size, 64 << 10), end - position);
      if (want <= 0) return void this.push(null);
      handle.read(Buffer.allocUnsafe(want), 0, want, position).then(
        ({ bytesRead, buffer }) => {
          if (bytesRead === 0) return this.destroy(new ManifestError('INVALID_ARCHIVE', `the archive's temporary copy ended at byte ${position} of ${end}`));
          position += bytesRead;
          this.push(buffer.subarray(0, bytesRead));
        },
        (error: Error) => this.destroy(error),
      );
    },
  });
}

/**
 * A member's bytes: a stream, and also an {@link InlineArchive}. A sink that takes archives in place
 * (gzip's blocks, a docker-archive being written) has them read straight from the file into its
 * own memory, with no chunk between: no fresh megabyte a read for the collector, and no copy. Read
 * as a stream, it is `open()`'s stream. Whichever way is taken first is the only one.
 */
class MemberBytes extends Readable implements InlineArchive {
  readonly size: number;
  readonly #open: () => Readable;
  readonly #fd: () => { fd: number; close: boolean };
  readonly #position: number;
  #inner: Readable | undefined;
  #inline = false;

  constructor(position: number, size: number, open: () => Readable, fd: () => { fd: number; close: boolean }) {
    super({ highWaterMark: 1 << 20 });
    this.size = size;
    this.#position = position;
    this.#open = open;
    this.#fd = fd;
  }

  override _read(): void {
    if (this.#inner) {
      this.#inner.resume();
      return;
    }
    if (this.#inline) {
      this.destroy(new ManifestError('INVALID_ARCHIVE', 'the member is already being read in place'));
      return;
    }
    const inner = this.#open();
    this.#inner = inner;
    inner.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) inner.pause();
    });
    inner.once('end', () => this.push(null));
    inner.once('error', (error) => this.destroy(error));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#inner?.destroy();
    callback(error);
  }

  [INLINE](sink: ArchiveSink): Promise<void> | undefined {
    if (this.#inner || this.#inline || this.destroyed) return undefined;
    this.#inline = true;
    return this.#readInto(sink);
  }

  /**
   * Synchronous positional reads into the sink's memory, as a layer tar reads its files: the thread
   * pool is busy compressing, and the sink makes this wait whenever it has enough.
   */
  async #readInto(sink: ArchiveSink): Promise<void> {
    const end = this.#position + this.size;
    let at = this.#position;
    const { fd, close } = this.#fd();
    try {
      while (at < end) {
        if (this.destroyed) throw new ManifestError('INVALID_ARCHIVE', 'the member was closed while it was being read');
        let room = sink.room();
        while (typeof room !== 'number') {
          await room;
          room = sink.room();
        }
        const n = readSync(fd, sink.buffer, sink.offset, Math.min(room, end - at), at);
        if (n === 0) throw new ManifestError('INVALID_ARCHIVE', `the archive ended at byte ${at}, inside a member that ends at ${end}`);
        sink.commit(n);
        at += n;
      }
    } finally {
      if (close) closeSync(fd);
    }
  }
}

/** Appends to a handle; it never closes it (a destroyed fs.WriteStream would, autoClose or not). */
function appendStream(handle: FileHandle): Writable {
  let position = 0;
  return new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _encoding, callback) {
      handle.write(chunk, 0, chunk.length, position).then(({ bytesWritten }) => {
        position += bytesWritten;
        callback();
      }, callback);
    },
  });
}

function fromHandle(handle: FileHandle, compression: Compression, size: number, path: string | undefined): TarSource {
  let closed = false;
  return {
    compression,
    size,
    temporary: path === undefined,
    async read(position, length) {
      const bytes = Buffer.alloc(Math.max(0, Math.min(length, size - position)));
      if (bytes.length > 0) await handle.read(bytes, 0, bytes.length, position);
      return bytes;
    },
    stream(position, length) {
      if (length === 0) return PassThrough.from([]);
      const range = { start: position, end: position + length - 1, highWaterMark: 1 << 20 };
      if (path !== undefined) {
        return new MemberBytes(position, length, () => createReadStream(path, range), () => ({ fd: openSync(path, 'r'), close: true }));
      }
      if (closed) throw new ManifestError('INVALID_ARCHIVE', 'the archive was closed before its layers were read');
      return new MemberBytes(position, length, () => rangeStream(handle, position, length), () => {
        if (closed) throw new ManifestError('INVALID_ARCHIVE', 'the archive was closed before its layers were read');
        return { fd: handle.fd, close: false };
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}

/**
 * Decompresses (or copies, for a pipe) the archive once into an unnamed temporary file and reads
 * it from there by offset, so memory stays bounded and each layer is read once, however many
 * members and layers the archive has.
 */
async function spool(file: string, input: Readable, compression: Compression, options: TarSourceOptions): Promise<TarSource> {
  const { signal } = options;
  const { handle, dir } = await unnamedFile(options.tmpDir ?? tmpdir());
  try {
    const sink = appendStream(handle);
    const stages = decompressor(compression);
    await pipeline([input, ...stages, spaceGuard(file, dir, await freeBytes(dir), options.tmpDir !== undefined), sink], signal ? { signal } : {}).catch((error: unknown) => {
      if (error instanceof ManifestError || (error as Error).name === 'AbortError' || stages.length === 0) throw error;
      throw new ManifestError('INVALID_ARCHIVE', `${file}: cannot decompress (${compression}): ${(error as Error).message}`, { cause: error });
    });
    const { size } = await handle.stat();
    return fromHandle(handle, compression, size, undefined);
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** Options for {@link openTarSource}. */
export interface TarSourceOptions {
  /** Stops decompressing; the temporary copy is removed. */
  readonly signal?: AbortSignal | undefined;
  /** Where the decompressed copy of a compressed archive or a pipe is made. @default os.tmpdir() */
  readonly tmpDir?: string | undefined;
}

/**
 * Opens an archive's tar bytes for reading by offset: a plain file directly; a compressed file or
 * a pipe (`<(zcat base.tar.gz)`) through an unnamed decompressed copy. Anything else (a directory,
 * a device) is refused.
 */
export async function openTarSource(file: string, options: TarSourceOptions = {}): Promise<TarSource> {
  const st = await stat(file).catch((e: unknown) => {
    throw new ManifestError('NOT_FOUND', `${file}: cannot open: ${(e as Error).message}`, { cause: e });
  });
  if (!st.isFile() && !st.isFIFO()) throw new ManifestError('INVALID_ARCHIVE', `${file}: is ${kindOf(st)}; an image archive must be a file or a pipe`);
  if (st.isFIFO()) {
    const { head, all } = await peek(createReadStream(file, { highWaterMark: 1 << 20 }), 4);
    return spool(file, all, detectCompression(head), options);
  }
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(4);
    await handle.read(head, 0, 4, 0);
    const compression = detectCompression(head);
    if (compression === 'none') return fromHandle(handle, compression, st.size, file);
    await handle.close();
    return await spool(file, createReadStream(file, { highWaterMark: 1 << 20 }), compression, options);
  } catch (error) {
    await handle.close().catch(() => {});
    throw error;
  }
}
