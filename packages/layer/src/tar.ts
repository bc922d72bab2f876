import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { createSha256 } from './_hash.js';
import { END_OF_ARCHIVE, entrySize, paxRecords } from './_header.js';
import { LayerError } from './errors.js';
import type { TarEntry, TarHeader } from './tar-entry.js';

const COALESCE = 64 << 10;

/** A tar archive being written: a Node Readable that knows its exact size and, once read, its sha256. */
export interface TarStream extends Readable {
  /** Exact byte length of the archive, known before the first byte is produced. */
  readonly size: number;
  /** `sha256:<hex>` of the bytes produced, resolved after the last byte (rejects if writing failed). */
  readonly digest: Promise<string>;
}

/** Options for {@link writeTar}. */
export interface WriteTarOptions {
  /** The exact archive size, required when `entries` is not an array (compute it with {@link tarSize}). @default tarSize(entries) */
  readonly size?: number;
  /** Compute the sha256 of the archive while it streams. @default true */
  readonly digest?: boolean;
  /** Aborts the archive; the stream is destroyed with the abort reason. @default none */
  readonly signal?: AbortSignal;
  /** Hash archives of 1 MiB or more on a worker thread. @default true when the machine has 3 or more cores */
  readonly hashThread?: boolean;
}

/** The exact byte size of an archive holding `headers`, computed from metadata alone. */
export function tarSize(headers: Iterable<TarHeader>): number {
  let size = END_OF_ARCHIVE;
  for (const header of headers) size += entrySize(header);
  return size;
}

const TYPE_BITS: Record<TarHeader['type'], number> = {
  file: 0o100000,
  link: 0o100000,
  directory: 0o40000,
  symlink: 0o120000,
  'character-device': 0o20000,
  'block-device': 0o60000,
  fifo: 0o10000,
};

function toPackHeader(entry: TarHeader): tarStream.Header {
  const pax = paxRecords(entry);
  return {
    name: entry.name,
    type: entry.type,
    // The file-type bit keeps tar-stream from replacing a mode of 0 with its default.
    mode: TYPE_BITS[entry.type] | (entry.mode & 0o7777),
    uid: entry.uid,
    gid: entry.gid,
    uname: pax?.uname === undefined ? entry.uname : '',
    gname: pax?.gname === undefined ? entry.gname : '',
    mtime: new Date(entry.mtime * 1000),
    devmajor: entry.devmajor ?? 0,
    devminor: entry.devminor ?? 0,
    size: entry.type === 'file' ? entry.size : 0,
    linkname: entry.linkname ?? '',
    ...(pax === undefined ? {} : { pax }),
  };
}

async function writeEntry(pack: tarStream.Pack, entry: TarEntry): Promise<void> {
  const header = toPackHeader(entry);
  const body = entry.body;
  if (entry.type !== 'file' || body === undefined || Buffer.isBuffer(body)) {
    const buffer = entry.type === 'file' ? (body as Buffer | undefined) ?? Buffer.alloc(0) : undefined;
    if (buffer && buffer.length !== entry.size) {
      throw new LayerError('CHANGED', `layer: ${entry.name}: body is ${buffer.length} bytes, header says ${entry.size}`);
    }
    await new Promise<void>((resolve, reject) => {
      const callback = (e?: Error | null) => (e ? reject(e) : resolve());
      const sink = buffer ? pack.entry(header, buffer, callback) : pack.entry(header, callback);
      // Failures reach us through the callback and the pack; an unheard 'error' would crash the process.
      sink.on('error', () => {});
    });
    return;
  }
  let sink!: Sink;
  const done = new Promise<void>((resolve, reject) => {
    sink = pack.entry(header, (e) => (e ? reject(e) : resolve()));
  });
  done.catch(() => {});
  sink.on('error', () => {});
  const source = body();
  // When the archive is torn down (a consumer's EPIPE, an abort), the source must stop too: a
  // layer stream left paused would keep its hash worker, and so the process, alive.
  sink.once('close', () => {
    if (source instanceof Readable) source.destroy();
    else void (source as AsyncGenerator<Buffer>).return?.(undefined);
  });
  const written = source instanceof Readable ? await copyReadable(source, sink, entry.size) : await copyIterable(source, sink, entry.size);
  if (written !== entry.size) {
    const error = new LayerError('CHANGED', `layer: ${entry.name} changed while packing: expected ${entry.size} bytes, read ${written}`);
    sink.destroy(error);
    throw error;
  }
  sink.end(undefined);
  await done;
}

type Sink = ReturnType<tarStream.Pack['entry']>;

/** Copies at most `limit` bytes and returns how many the source had (stops counting past the limit). */
async function copyIterable(source: AsyncIterable<Buffer>, sink: Sink, limit: number): Promise<number> {
  let written = 0;
  for await (const chunk of source) {
    written += chunk.length;
    if (written > limit) break;
    if (!sink.write(chunk)) await new Promise<void>((r) => sink.once('drain', () => r()));
  }
  return written;
}

/**
 * Copies a Node Readable in flowing mode. Async-iterating a Readable makes it concatenate whatever
 * it has buffered into one new Buffer per step: a copy of every byte that flowing mode avoids.
 */
function copyReadable(source: Readable, sink: Sink, limit: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let written = 0;
    source.on('data', (chunk: Buffer) => {
      written += chunk.length;
      if (written > limit) {
        source.destroy();
        resolve(written);
        return;
      }
      if (!sink.write(chunk)) {
        source.pause();
        sink.once('drain', () => source.resume());
      }
    });
    source.once('end', () => resolve(written));
    source.once('error', reject);
    source.once('close', () => reject(new Error('tar entry source closed before its end')));
  });
}

/**
 * Writes `entries` as a tar archive, in order, with every header field taken from the entry.
 * Entries may come from an async iterable (then pass `options.size`), so a late entry can depend on
 * what earlier ones produced. `size` is the exact archive length up front; `digest` resolves once the bytes have streamed.
 * @example
 * const tar = writeTar([{ name: 'a.txt', type: 'file', mode: 0o644, uid: 0, gid: 0, uname: 'root',
 *   gname: 'root', mtime: 1, size: 2, body: Buffer.from('hi') }]);
 * await pipeline(tar, createWriteStream('a.tar'));
 */
export function writeTar(entries: readonly TarEntry[] | AsyncIterable<TarEntry>, options: WriteTarOptions = {}): TarStream {
  const pack = tarStream.pack();
  if (!Array.isArray(entries) && options.size === undefined) {
    throw new TypeError('writeTar: options.size is required when entries is an async iterable');
  }
  const size = options.size ?? tarSize(entries as readonly TarEntry[]);
  const hash = options.digest === false ? undefined : createSha256(size, options.hashThread);
  let resolveDigest!: (d: string) => void;
  let rejectDigest!: (e: unknown) => void;
  const digest = new Promise<string>((resolve, reject) => {
    resolveDigest = resolve;
    rejectDigest = reject;
  });
  digest.catch(() => {});
  let produced = 0;
  let settled = false;
  const out = new Readable({
    highWaterMark: 1 << 20,
    read: () => pack.resume(),
    destroy: (error, callback) => {
      pack.destroy(error ?? undefined);
      // Destroyed after the last byte (autoDestroy): the digest is on its way.
      if (!settled) {
        hash?.cancel();
        rejectDigest(error ?? new Error('tar stream destroyed before its end'));
      }
      callback(error);
    },
  }) as Readable & { size: number; digest: Promise<string> };
  Object.assign(out, { size, digest });
  // Headers and padding arrive as many tiny chunks; gather them so each push (and, downstream,
  // each pipe write) carries at least COALESCE bytes, while large file chunks pass as they are.
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = (): boolean => {
    if (pendingBytes === 0) return true;
    const chunk = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return out.push(chunk);
  };
  pack.on('data', (data) => {
    const chunk = data as Buffer;
    hash?.update(chunk);
    produced += chunk.length;
    let ok: boolean;
    if (chunk.length >= COALESCE) {
      const flushed = flush();
      ok = out.push(chunk) && flushed;
    } else {
      pending.push(chunk);
      pendingBytes += chunk.length;
      ok = pendingBytes >= COALESCE ? flush() : true;
    }
    if (!ok) pack.pause();
  });
  pack.on('end', () => {
    flush();
    if (produced !== size) {
      out.destroy(new LayerError('CHANGED', `layer: archive is ${produced} bytes, ${size} were announced`));
      return;
    }
    if (!hash) {
      resolveDigest('');
      out.push(null);
      return;
    }
    settled = true;
    // The stream ends now; the digest follows once the hashing thread catches up, so whoever
    // reads this archive can start on the next one meanwhile.
    hash.digest().then(resolveDigest, rejectDigest);
    out.push(null);
  });
  pack.on('error', (error: Error) => out.destroy(error));
  const onAbort = () => out.destroy(options.signal?.reason ?? new Error('aborted'));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  out.once('close', () => options.signal?.removeEventListener('abort', onAbort));
  (async () => {
    options.signal?.throwIfAborted();
    for await (const entry of entries) {
      if (out.destroyed) return;
      await writeEntry(pack, entry);
    }
    pack.finalize();
  })().catch((error: unknown) => out.destroy(error as Error));
  return out;
}
