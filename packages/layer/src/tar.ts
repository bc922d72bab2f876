import { Readable } from 'node:stream';
import { FdSink } from './_fd-sink.js';
import { END_OF_ARCHIVE, entrySize } from './_header.js';
import { startHashThread } from './_hash.js';
import { type ArchiveSink, INLINE, type InlineArchive, type ProduceEntry, produceTar } from './_produce.js';
import { StreamSink } from './_stream-sink.js';
import type { TarEntry, TarHeader } from './tar-entry.js';

/** Options for {@link TarStream.writeToFd}. */
export interface WriteToFdOptions {
  /** Called with the number of bytes after each write (a progress display). @default none */
  readonly onProgress?: (bytes: number) => void;
}

/** A tar archive being written: a Node Readable that knows its exact size and, once read, its sha256. */
export interface TarStream extends Readable {
  /** Exact byte length of the archive, known before the first byte is produced. */
  readonly size: number;
  /** `sha256:<hex>` of the bytes produced, resolved after the last byte (rejects if writing failed). */
  readonly digest: Promise<string>;
  /**
   * Writes the archive to an open file descriptor (a pipe, a file) instead of being read as a
   * stream: files are read straight into one reused buffer that a worker thread hashes and the
   * thread pool writes out, so no byte is copied or allocated on the main thread. Archives given
   * as entry bodies (layers in a docker-archive) are written in place the same way. Use it instead
   * of reading the stream, not as well; the descriptor is left open. Rejects with the write's
   * error (EPIPE when a pipe's reader has gone) or the abort reason.
   * @example
   * const fd = openSync('layer.tar', 'wx');
   * try { await packLayer(plan).writeToFd(fd); } finally { closeSync(fd); }
   */
  writeToFd(fd: number, options?: WriteToFdOptions): Promise<void>;
}

/** Options for {@link writeTar}. */
export interface WriteTarOptions {
  /** The exact archive size, required when `entries` is not an array (compute it with {@link tarSize}). @default tarSize(entries) */
  readonly size?: number;
  /** Compute the sha256 of the archive while it streams. @default true */
  readonly digest?: boolean;
  /** Aborts the archive; the stream is destroyed with the abort reason. @default none */
  readonly signal?: AbortSignal;
  /**
   * Hash archives of 1 MiB or more on a worker thread. @default when read as a stream: true when
   * the machine has 3 or more cores (on 2, copying each chunk to the thread costs what it saves);
   * with writeToFd: true (the thread hashes the bytes where they were read)
   */
  readonly hashThread?: boolean;
  /** Most bytes read from a file in one call. @default as much as the buffer has room for */
  readonly readSize?: number;
}

/**
 * Starts the thread that {@link TarStream.writeToFd} hashes on, ahead of time: call it before the
 * work that precedes writing (planning layers) so the thread has booted by the first byte. It does
 * not keep the process alive, and a later writeToFd uses it. Resolves once the thread runs.
 */
export function prepareWriteToFd(): Promise<void> {
  return startHashThread();
}

/** The exact byte size of an archive holding `headers`, computed from metadata alone. */
export function tarSize(headers: Iterable<TarHeader>): number {
  let size = END_OF_ARCHIVE;
  for (const header of headers) size += entrySize(header);
  return size;
}

/** The archive: lazy until read as a stream, written to a descriptor, or written in place into an outer archive. */
class Archive extends Readable implements TarStream, InlineArchive {
  readonly size: number;
  readonly digest: Promise<string>;
  readonly #entries: Iterable<ProduceEntry> | AsyncIterable<ProduceEntry>;
  readonly #options: WriteTarOptions;
  #resolveDigest!: (digest: string) => void;
  #rejectDigest!: (error: unknown) => void;
  /** All bytes are produced: the digest is on its way and must not be rejected by teardown. */
  #settled = false;
  #started = false;
  #streamSink: StreamSink | undefined;
  #fdSink: FdSink | undefined;
  #detach: () => void = () => {};

  constructor(entries: Iterable<ProduceEntry> | AsyncIterable<ProduceEntry>, size: number, options: WriteTarOptions) {
    super({ highWaterMark: 1 << 20 });
    this.size = size;
    this.#entries = entries;
    this.#options = options;
    this.digest = new Promise<string>((resolve, reject) => {
      this.#resolveDigest = resolve;
      this.#rejectDigest = reject;
    });
    this.digest.catch(() => {});
    const { signal } = options;
    if (signal) {
      const onAbort = () => this.#abort(signal.reason ?? new Error('aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      // Removed as soon as the archive is done: a docker-archive's layers may all be written
      // before the event loop gets to emit their 'close'.
      this.#detach = () => signal.removeEventListener('abort', onAbort);
    }
  }

  #abort(reason: unknown): void {
    if (this.#fdSink) void this.#fdSink.abort(reason);
    else if (this.#streamSink) this.destroy(reason as Error);
    // Not started, or written in place into an outer archive: no one listens for 'error' here (it
    // would crash the process); production checks the signal before every entry and fails with it.
  }

  async #produce(sink: ArchiveSink): Promise<void> {
    this.#options.signal?.throwIfAborted();
    const hashed = this.#options.digest !== false;
    if (hashed) sink.beginDigest(this.size);
    await produceTar(this.#entries, sink, { size: this.size, signal: this.#options.signal, readSize: this.#options.readSize });
    this.#settled = true;
    if (hashed) sink.endDigest().then(this.#resolveDigest, this.#rejectDigest);
    else this.#resolveDigest('');
  }

  /** Done without being read as a stream: close it quietly (an 'error' event nobody hears would crash). */
  #close(error?: unknown): void {
    if (!this.#settled && error !== undefined) this.#rejectDigest(error);
    this.#detach();
    this.destroy();
  }

  override _read(): void {
    if (this.#streamSink) {
      this.#streamSink.resume();
      return;
    }
    if (this.#started) return;
    this.#started = true;
    const sink = new StreamSink({
      push: (chunk) => this.push(chunk),
      ...(this.#options.hashThread === undefined ? {} : { hashThread: this.#options.hashThread }),
    });
    this.#streamSink = sink;
    this.#produce(sink).then(
      () => {
        sink.finish();
        this.push(null);
      },
      (error: unknown) => this.destroy(error as Error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#detach();
    this.#streamSink?.abort(error ?? new Error('tar stream destroyed'));
    if (!this.#settled) this.#rejectDigest(error ?? new Error('tar stream destroyed before its end'));
    callback(error);
  }

  async writeToFd(fd: number, options: WriteToFdOptions = {}): Promise<void> {
    if (this.#started) throw new Error('writeToFd: the archive is already being read');
    this.#started = true;
    const sink = new FdSink(fd, {
      hashThread: this.#options.hashThread ?? true,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    this.#fdSink = sink;
    try {
      await this.#produce(sink);
      await sink.finish();
    } catch (error) {
      await sink.abort(error);
      this.#close(error);
      throw error;
    }
    this.#close();
  }

  [INLINE](sink: ArchiveSink): Promise<void> | undefined {
    if (this.#started) return undefined;
    this.#started = true;
    return this.#produce(sink).then(
      () => this.#close(),
      (error: unknown) => {
        this.#close(error);
        throw error;
      },
    );
  }
}

/** writeTar for entries that may name their content's file (`source`, as planned layers do), from any iterable given its size. */
export function createArchive(entries: Iterable<ProduceEntry> | AsyncIterable<ProduceEntry>, options: WriteTarOptions = {}): TarStream {
  if (!Array.isArray(entries) && options.size === undefined) {
    throw new TypeError('writeTar: options.size is required when entries is an async iterable');
  }
  const size = options.size ?? tarSize(entries as readonly ProduceEntry[]);
  return new Archive(entries, size, options);
}

/**
 * Writes `entries` as a tar archive, in order, with every header field taken from the entry.
 * Entries may come from an async iterable (then pass `options.size`), so a late entry can depend on
 * what earlier ones produced. `size` is the exact archive length up front; `digest` resolves once
 * the bytes have streamed. Nothing is read before the stream is (or {@link TarStream.writeToFd}).
 * @example
 * const tar = writeTar([{ name: 'a.txt', type: 'file', mode: 0o644, uid: 0, gid: 0, uname: 'root',
 *   gname: 'root', mtime: 1, size: 2, body: Buffer.from('hi') }]);
 * await pipeline(tar, createWriteStream('a.tar'));
 */
export function writeTar(entries: readonly TarEntry[] | AsyncIterable<TarEntry>, options: WriteTarOptions = {}): TarStream {
  return createArchive(entries, options);
}
