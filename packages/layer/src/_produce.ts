// Writes tar entries into an ArchiveSink: headers encoded here, file contents read straight into
// the sink's own memory (one read syscall per piece, no intermediate buffer), other bodies copied
// in, archives nested as entries (a layer inside a docker-archive) written in place with their own
// digest. The sink decides where bytes go and when to wait; this file only says what the bytes are.
import { closeSync, openSync, readSync } from 'node:fs';
import { Readable } from 'node:stream';
import { END_OF_ARCHIVE, HeaderWriter, padToBlock } from './_header.js';
import { LayerError, toLayerError } from './errors.js';
import type { TarEntry } from './tar-entry.js';

/** What a sink method returns: nothing when it is done, a promise when the caller must wait first. */
export type Wait = undefined | Promise<void>;

/**
 * Where archive bytes go: a reused ring written to a file descriptor, or fresh buffers handed to a
 * Readable. The producer asks for space, fills some of it and commits what it filled.
 */
export interface ArchiveSink {
  /** Bytes committed so far. */
  readonly written: number;
  /** The memory the next bytes go into, from {@link ArchiveSink.offset}; valid once room() gave a count. */
  readonly buffer: Buffer;
  readonly offset: number;
  /**
   * How many bytes may go into `buffer` at `offset` now (at least one), or a promise to wait on
   * before asking again. Offsets and counts, not views: a view per read would be an allocation per
   * file, which is what the garbage collector would spend its time on.
   */
  room(): number | Promise<void>;
  /** `count` bytes at `offset` now hold archive bytes. */
  commit(count: number): void;
  /**
   * Bytes committed from now on, until endDigest, are hashed into one sha256 (about `expectedSize` of
   * them). Digests nest: an archive written in place inside a hashed one begins its own while the
   * outer one is open, and every byte goes into both.
   */
  beginDigest(expectedSize: number): void;
  /** `sha256:<hex>` of the bytes since the innermost open beginDigest, once they are hashed. */
  endDigest(): Promise<string>;
  /** Hands on what is buffered: called before waiting on anything but the sink. */
  flush(): Wait;
}

/** An entry being produced: a TarEntry, or a planned layer entry whose bytes are in the file `source`. */
export interface ProduceEntry extends TarEntry {
  readonly source?: string;
}

/** The method by which an archive writes itself in place into another archive (see InlineArchive). */
export const INLINE: unique symbol = Symbol.for('strata.layer.inlineArchive');

/** An archive that can write itself into another archive's sink instead of being read as a stream. */
export interface InlineArchive {
  readonly size: number;
  /** Writes the archive into `sink`, or returns undefined when it has already started streaming. */
  [INLINE](sink: ArchiveSink): Promise<void> | undefined;
}

function isInlineArchive(value: unknown): value is InlineArchive {
  return typeof value === 'object' && value !== null && INLINE in value;
}

const ZEROS = Buffer.alloc(END_OF_ARCHIVE);


/** Copies `bytes` into the sink. */
function put(sink: ArchiveSink, bytes: Uint8Array, from = 0): Wait {
  for (let off = from; off < bytes.length; ) {
    const room = sink.room();
    if (typeof room !== 'number') {
      const at = off;
      return room.then(() => put(sink, bytes, at));
    }
    const n = Math.min(room, bytes.length - off);
    if (Buffer.isBuffer(bytes)) bytes.copy(sink.buffer, sink.offset, off, off + n);
    else sink.buffer.set(bytes.subarray(off, off + n), sink.offset);
    sink.commit(n);
    off += n;
  }
  return undefined;
}

/** Appends `count` zero bytes. */
function zeros(sink: ArchiveSink, count: number): Wait {
  for (let left = count; left > 0; ) {
    const room = sink.room();
    if (typeof room !== 'number') {
      const rest = left;
      return room.then(() => zeros(sink, rest));
    }
    const n = Math.min(room, left);
    sink.buffer.fill(0, sink.offset, sink.offset + n);
    sink.commit(n);
    left -= n;
  }
  return undefined;
}

function then(wait: Wait, next: () => Wait): Wait {
  return wait === undefined ? next() : wait.then(next);
}

function changed(entry: TarEntry, read: number): LayerError {
  return new LayerError('CHANGED', `layer: ${entry.name} changed while packing: expected ${entry.size} bytes, read ${read}`);
}

function openFile(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (error) {
    throw toLayerError(error, path);
  }
}

/** Reads up to `length` bytes into the sink's room (`room` of them); 0 at end of file. Only file errors are wrapped, never the sink's. */
function readInto(sink: ArchiveSink, room: number, fd: number, length: number, position: number, path: string): number {
  try {
    return readSync(fd, sink.buffer, sink.offset, Math.min(room, length), position);
  } catch (error) {
    throw toLayerError(error, path);
  }
}

/** What one produceTar call keeps for its entries. */
interface Context {
  readonly readSize: number;
  /** Reuses one block: the next header is encoded only once this one is in the sink. */
  readonly headers: HeaderWriter;
}

/** A file's `size` bytes, read straight into the sink, then its padding. Small files take one read. */
function readFile(sink: ArchiveSink, entry: ProduceEntry, path: string, readSize: number): Wait {
  const fd = openFile(path);
  let position = 0;
  try {
    while (position < entry.size) {
      const room = sink.room();
      if (typeof room !== 'number') return finishReading(sink, entry, path, fd, position, room, readSize);
      const n = readInto(sink, room, fd, Math.min(entry.size - position, readSize), position, path);
      if (n === 0) throw changed(entry, position);
      sink.commit(n);
      position += n;
    }
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  closeSync(fd);
  return zeros(sink, padToBlock(entry.size) - entry.size);
}

/** readFile once the sink has made it wait: the same loop, awaiting. */
async function finishReading(
  sink: ArchiveSink,
  entry: ProduceEntry,
  path: string,
  fd: number,
  from: number,
  wait: Promise<void>,
  readSize: number,
): Promise<void> {
  let position = from;
  try {
    await wait;
    while (position < entry.size) {
      let room = sink.room();
      while (typeof room !== 'number') {
        await room;
        room = sink.room();
      }
      const n = readInto(sink, room, fd, Math.min(entry.size - position, readSize), position, path);
      if (n === 0) throw changed(entry, position);
      sink.commit(n);
      position += n;
    }
  } finally {
    closeSync(fd);
  }
  await zeros(sink, padToBlock(entry.size) - entry.size);
}

/** Copies a body we do not read ourselves (a Readable, an async iterable) and returns how many bytes it had. */
async function copyBody(sink: ArchiveSink, source: AsyncIterable<Buffer> | Readable, limit: number): Promise<number> {
  if (source instanceof Readable) return copyReadable(sink, source, limit);
  let copied = 0;
  for await (const chunk of source) {
    copied += chunk.length;
    if (copied > limit) break;
    await put(sink, chunk);
  }
  return copied;
}

/**
 * Copies a Readable in flowing mode: async-iterating one makes it concatenate what it has
 * buffered into a new Buffer per step, and others may be listening to its 'data' (a diffID hash).
 */
function copyReadable(sink: ArchiveSink, source: Readable, limit: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let copied = 0;
    let ended = false;
    /**
     * The copy of the last chunk while the sink makes it wait. A paused source still ends (and
     * closes) once its last chunk is out: the body is only done when that copy is, or the next
     * entry's bytes would land in the sink before the rest of this one.
     */
    let pending: Promise<void> | undefined;
    const fail = (error: unknown) => {
      source.destroy();
      reject(error);
    };
    source.on('data', (chunk: Buffer) => {
      copied += chunk.length;
      if (copied > limit) {
        source.destroy();
        resolve(copied);
        return;
      }
      try {
        const wait = put(sink, chunk);
        if (wait !== undefined) {
          source.pause();
          const copying: Promise<void> = wait.then(() => {
            if (pending === copying) pending = undefined;
            source.resume();
          });
          pending = copying;
          copying.catch(fail);
        }
      } catch (error) {
        fail(error);
      }
    });
    source.once('end', () => {
      ended = true;
      if (pending === undefined) resolve(copied);
      else pending.then(() => resolve(copied), reject);
    });
    source.once('error', reject);
    source.once('close', () => {
      if (!ended) reject(new Error('tar entry source closed before its end'));
    });
  });
}

/** A body given as a function: our own archive is written in place, anything else is copied. */
async function writeOpenedBody(sink: ArchiveSink, entry: TarEntry, open: () => AsyncIterable<Buffer> | Readable): Promise<void> {
  const source = open();
  const inline = isInlineArchive(source) ? source : undefined;
  if (inline !== undefined && inline.size !== entry.size) throw changed(entry, inline.size);
  const written = inline?.[INLINE](sink);
  if (written !== undefined) {
    await written;
  } else {
    let copied: number;
    try {
      copied = await copyBody(sink, source, entry.size);
    } finally {
      // Stopped early (a failed sink, too many bytes): the source must stop too, or an open layer
      // stream would keep its hash worker, and so the process, alive.
      if (source instanceof Readable) source.destroy();
      else void (source as AsyncGenerator<Buffer>).return?.(undefined);
    }
    if (copied !== entry.size) throw changed(entry, copied);
  }
  await zeros(sink, padToBlock(entry.size) - entry.size);
}

function writeBody(sink: ArchiveSink, entry: ProduceEntry, context: Context): Wait {
  if (entry.source !== undefined && entry.size > 0) return readFile(sink, entry, entry.source, context.readSize);
  const body = entry.body;
  if (typeof body === 'function') return writeOpenedBody(sink, entry, body);
  const buffer = body ?? ZEROS.subarray(0, 0);
  if (buffer.length !== entry.size) {
    throw new LayerError('CHANGED', `layer: ${entry.name}: body is ${buffer.length} bytes, header says ${entry.size}`);
  }
  return then(put(sink, buffer), () => zeros(sink, padToBlock(entry.size) - entry.size));
}

function writeEntry(sink: ArchiveSink, entry: ProduceEntry, context: Context): Wait {
  const header = put(sink, context.headers.encode(entry));
  return entry.type === 'file' ? then(header, () => writeBody(sink, entry, context)) : header;
}

/**
 * Writes `entries` and the end-of-archive blocks into `sink`, checking the archive comes to `size`
 * bytes; a file is read at most `readSize` bytes at a time (default: as much as the sink has room
 * for). Entries from an async iterable are asked for one at a time (a late entry may depend on
 * what earlier ones produced), with the sink flushed before each wait.
 */
export async function produceTar(
  entries: Iterable<ProduceEntry> | AsyncIterable<ProduceEntry>,
  sink: ArchiveSink,
  options: { readonly size: number; readonly signal?: AbortSignal | undefined; readonly readSize?: number | undefined },
): Promise<void> {
  const { size, signal } = options;
  const context: Context = { readSize: options.readSize ?? Number.POSITIVE_INFINITY, headers: new HeaderWriter() };
  const start = sink.written;
  if (Symbol.iterator in entries) {
    for (const entry of entries) {
      signal?.throwIfAborted();
      const wait = writeEntry(sink, entry, context);
      if (wait !== undefined) await wait;
    }
  } else {
    const iterator = entries[Symbol.asyncIterator]();
    try {
      for (;;) {
        await sink.flush();
        const next = await iterator.next();
        if (next.done) break;
        signal?.throwIfAborted();
        await writeEntry(sink, next.value, context);
      }
    } catch (error) {
      await iterator.return?.();
      throw error;
    }
  }
  await zeros(sink, END_OF_ARCHIVE);
  const produced = sink.written - start;
  if (produced !== size) throw new LayerError('CHANGED', `layer: archive is ${produced} bytes, ${size} were announced`);
}
