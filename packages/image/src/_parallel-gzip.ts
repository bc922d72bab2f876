import { createHash, type Hash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';
import { type ArchiveSink, INLINE, type InlineArchive } from '@strata/layer';
import pLimit from 'p-limit';
import { deferred, quiet } from './_deferred.js';

/** Uncompressed bytes per independently compressed block: the unit of parallelism. */
export const GZIP_BLOCK = 1 << 20;
/** What deflate may reach back (RFC 1951 section 2.3): each block is primed with this much of the one before. */
const WINDOW = 32 << 10;

const cores = availableParallelism();
/**
 * Deflate jobs in flight in the whole process: one a core and one more (so a core never waits for the
 * main thread to hand out the next block), leaving a thread of the pool (4 threads unless
 * UV_THREADPOOL_SIZE says otherwise; the CLI sizes it to the cores) for the file reads, which must
 * not wait behind a queue of compression jobs.
 */
const DEFLATE_SLOTS = Math.max(1, Math.min(cores + 1, (Number(process.env.UV_THREADPOOL_SIZE) || 4) - 1));
const deflates = pLimit(DEFLATE_SLOTS);

/** Streams compressing now: they share the cores, and the blocks each may hold. */
let active = 0;

/** deflate's bound for a full block, with room to spare: any compressed block's output fits. */
const BLOCK_ROOM = GZIP_BLOCK + (GZIP_BLOCK >> 10) + 1024;

/**
 * Output buffers for block deflates, kept while any stream compresses and dropped when none does. A
 * zlib stream allocates its output buffer when it is built, and a block's deflate needs room for
 * its bound: a fresh megabyte a block, which the collector counts as external memory and, once it
 * outlives a young collection, frees only in a full one. A 1 GiB push ran about 100 full
 * collections, 55 with the buffers kept and the output copied out, 4 with the buffers lent to the
 * upload (see {@link RELEASE}) and handed back.
 */
const rooms: Buffer[] = [];

/**
 * Free rooms kept at most: enough for the deflates running and for the blocks lent out to
 * consumers (a few a stream: waiting in its stream buffers or in a socket write).
 */
function roomsKept(): number {
  return DEFLATE_SLOTS + 4 * active;
}

/**
 * What a lent chunk carries: the function that hands its memory back to its producer, to be called
 * once when the consumer no longer needs the bytes (for a request body, when the socket has taken
 * them). A chunk never handed back is simply collected. `@strata/registry`'s request bodies call it.
 */
export const RELEASE: unique symbol = Symbol.for('strata.release') as never;

/** A chunk of output that is a view of `room`, handed back to the rooms through {@link RELEASE}. */
function lentView(room: Buffer, length: number): Buffer {
  const view = room.subarray(0, length);
  let released = false;
  Object.defineProperty(view, RELEASE, {
    value: () => {
      if (released) return;
      released = true;
      if (active > 0 && rooms.length < roomsKept()) rooms.push(room);
    },
  });
  return view;
}

/** Whether `chunks` are, in order, the first `length` bytes of `room` (zlib wrote them there). */
function fillRoom(chunks: readonly Buffer[], room: Buffer, length: number): boolean {
  let at = 0;
  for (const chunk of chunks) {
    if (chunk.buffer !== room.buffer || chunk.byteOffset !== room.byteOffset + at) return false;
    at += chunk.length;
  }
  return at === length && length <= room.length;
}

/** The fields through which a zlib stream (Node's `ZlibBase`) writes into its output buffer. */
interface ZlibOutput {
  _outBuffer: Buffer;
  _outOffset: number;
  _chunkSize: number;
}

/**
 * Gives a zlib stream built with the smallest `chunkSize` our own output buffer, through the
 * undocumented fields Node's zlib has written from for many releases (`processChunk` hands
 * zlib `_outBuffer` from `_outOffset`, with `_chunkSize - _outOffset` bytes of room). False, and
 * the stream untouched, when they are not as expected: the caller then builds the stream the usual
 * way. A test fails if they stop being lent.
 */
function lendOutput(stream: zlib.DeflateRaw, room: Buffer): boolean {
  const inner = stream as unknown as Partial<ZlibOutput>;
  if (!Buffer.isBuffer(inner._outBuffer) || inner._outBuffer.length !== zlib.constants.Z_MIN_CHUNK || inner._chunkSize !== zlib.constants.Z_MIN_CHUNK || inner._outOffset !== 0) return false;
  Object.assign(inner, { _outBuffer: room, _outOffset: 0, _chunkSize: room.length } satisfies ZlibOutput);
  return true;
}

/**
 * Raw deflate of one block, as the chunks zlib hands out.
 *
 * A compressed block is one job on the thread pool: its output buffer has room for deflate's bound
 * and the block is written with its final flush, so nothing comes back to the main thread until the
 * block is done. A zlib stream left to itself takes a round trip to the main thread for every 256
 * KiB of output and one more to flush, and on a busy main thread each trip leaves a core idle (a
 * tenth of a 2-core push). The output buffer is one of {@link rooms}; the output is lent as a view
 * of it when `lend` (the consumer hands it back), else copied out of it (half a megabyte, for a
 * megabyte not allocated). The bytes must stay those of the stream,
 * which layer digests in caches and registries already pin, and for levels 1-9 they are, with one
 * exception: when the stream's sync-flush marker reached the end of one of its output buffers, zlib
 * wrote a second, empty marker on the call that followed. Such a block (its output ends within a
 * few bytes past a multiple of `chunkSize`: about one in 25,000) is deflated again as the stream
 * did it. Stored blocks (level 0) are cut to the room of each call, so they are always written
 * through the stream.
 */
function deflateBlock(input: Buffer, options: zlib.ZlibOptions, lend: boolean): Promise<Buffer[]> {
  if (options.level === 0) return deflateStream(input, options);
  return new Promise((resolve, reject) => {
    // Paused, with room to hold the whole output: read back once the write is done.
    const streamOptions = (chunkSize: number): zlib.ZlibOptions & { readableHighWaterMark: number } => ({ ...options, flush: options.finishFlush, chunkSize, readableHighWaterMark: 2 * BLOCK_ROOM });
    let deflate = zlib.createDeflateRaw(streamOptions(zlib.constants.Z_MIN_CHUNK));
    let room: Buffer | undefined = rooms.pop() ?? Buffer.allocUnsafe(BLOCK_ROOM);
    if (!lendOutput(deflate, room)) {
      if (active > 0) rooms.push(room);
      deflate.close();
      deflate = zlib.createDeflateRaw(streamOptions(BLOCK_ROOM));
      room = undefined;
    }
    deflate.once('error', reject);
    deflate.write(input, (error) => {
      if (error) {
        reject(error);
        return;
      }
      let out: Buffer[] = [];
      let length = 0;
      for (let chunk: Buffer | null = deflate.read(); chunk !== null; chunk = deflate.read()) {
        out.push(chunk);
        length += chunk.length;
      }
      deflate.close();
      const chunkSize = options.chunkSize ?? zlib.constants.Z_DEFAULT_CHUNK;
      // The marker is at most 6 bytes: 64 leaves room to spare, at the cost of a few blocks done twice.
      const again = length >= chunkSize && length % chunkSize < 64;
      if (room) {
        if (lend && !again && fillRoom(out, room, length)) out = [lentView(room, length)];
        else {
          if (!again) out = [Buffer.concat(out, length)];
          if (active > 0 && rooms.length < roomsKept()) rooms.push(room);
        }
      }
      if (again) deflateStream(input, options).then(resolve, reject);
      else resolve(out);
    });
  });
}

/** Raw deflate of one block through a zlib stream, `chunkSize` bytes of output at a time. */
function deflateStream(input: Buffer, options: zlib.ZlibOptions): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const deflate = zlib.createDeflateRaw(options);
    deflate.on('data', (chunk: Buffer) => out.push(chunk));
    deflate.once('end', () => resolve(out));
    deflate.once('error', reject);
    deflate.end(input);
  });
}

/** Bytes of each sample {@link incompressible} tries. */
const SAMPLE = 16 << 10;
/** Output room of a sampler: deflate's bound for a sample, so one finish writes it all. */
const SAMPLE_ROOM = SAMPLE + (SAMPLE >> 10) + 1024;

/**
 * Deflaters for samples, reset and kept between samples while any stream compresses (at most one a
 * deflate slot), and closed when none does. A new zlib stream a sample cost about 0.55 ms of CPU:
 * the stream built on the main thread, and zlib's state set up on the pool, five times the
 * compression of the sample itself (4,500 samples of 16 KiB: 3.0-4.2 s of CPU against 0.5 s). A
 * reset state compresses exactly as a new one.
 */
const samplers: zlib.DeflateRaw[] = [];

/** Drops the buffers and samplers kept for streams: none is compressing, and the memory goes back. */
function releaseBuffers(): void {
  rooms.length = 0;
  for (const sampler of samplers.splice(0)) sampler.close();
}

/** Buffers and samplers kept for the streams compressing now (for tests). */
export function keptBuffers(): { rooms: number; samplers: number } {
  return { rooms: rooms.length, samplers: samplers.length };
}

/** Length of the raw deflate of `input` at level 1, as one `zlib.deflateRaw` of it makes it. */
export function deflateSample(input: Buffer): Promise<number> {
  const options: zlib.ZlibOptions & { readableHighWaterMark: number } = { level: 1, memLevel: 9, flush: zlib.constants.Z_FINISH, chunkSize: SAMPLE_ROOM, readableHighWaterMark: 4 * SAMPLE_ROOM };
  const sampler = samplers.pop() ?? zlib.createDeflateRaw(options);
  return new Promise((resolve, reject) => {
    sampler.once('error', reject);
    sampler.write(input, (error) => {
      sampler.off('error', reject);
      if (error) {
        sampler.destroy();
        reject(error);
        return;
      }
      let length = 0;
      for (let chunk: Buffer | null = sampler.read(); chunk !== null; chunk = sampler.read()) length += chunk.length;
      if (active > 0 && samplers.length < DEFLATE_SLOTS) {
        sampler.reset();
        samplers.push(sampler);
      } else sampler.close();
      resolve(length);
    });
  });
}

/**
 * Whether a block is not worth compressing: four samples spread over it (already compressed or
 * random bytes: jars, images, archives in a closure) all fail to shrink by 2% at level 1. Such a
 * block is stored as it is, which costs a copy instead of a full search for matches that are not
 * there (klauspost's deflate, which skopeo uses, skips such data too). A block with any compressible
 * sample is compressed; the first sample decides for most, so the test costs about 1.5% of a block.
 * The answer depends only on the bytes, so the output stays deterministic.
 */
async function incompressible(input: Buffer): Promise<boolean> {
  if (input.length < 4 * SAMPLE) return false;
  for (let k = 0; k < 4; k++) {
    const at = Math.floor((input.length * k) / 4);
    if ((await deflateSample(input.subarray(at, at + SAMPLE))) < SAMPLE * 0.98) return false;
  }
  return true;
}

/**
 * The blocks of one gzip stream, as pigz and klauspost's pgzip make them: the input is cut into
 * {@link GZIP_BLOCK}-byte blocks at fixed offsets, each block is deflated on the thread pool with the
 * 32 KiB before it as its dictionary and ends on a sync flush, and the raw deflate outputs are joined
 * in order between one header and one trailer. Any gzip reader reads it as one member. The bytes
 * depend only on the input and the level, never on the cores or on how the input arrived, so a
 * layer compresses to the same digest on every machine. Bytes go straight into `block` at `fill`.
 */
class GzipBlocks {
  /** Blocks compressing or waiting, in output order (a few, so memory stays bounded). */
  readonly #pending: Promise<{ out: Buffer[]; block: Buffer }>[] = [];
  /** Blocks whose deflate is done, for reuse: a fresh megabyte a block is garbage the collector would chase. */
  readonly #free: Buffer[] = [];
  block: Buffer = Buffer.allocUnsafe(GZIP_BLOCK);
  fill = 0;
  #dictionary: Buffer | undefined;
  #crc = 0;
  #size = 0;
  #counted = false;

  constructor(
    readonly level: number,
    /** Takes each piece of output, in order. */
    readonly emit: (chunk: Buffer) => void,
    /** Emit compressed blocks as views of the deflate's own buffer, lent through {@link RELEASE}, instead of copies. */
    readonly lend = false,
  ) {
    const xfl = level === 9 ? 2 : level < 2 ? 4 : 0;
    // The header zlib writes (no name, mtime 0, its XFL for the level), with the OS byte of Unix.
    emit(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]));
    this.#counted = true;
    active++;
  }

  /** Blocks a stream may have waiting or compressing: its share of the cores, at least one. */
  static get ahead(): number {
    return Math.max(1, Math.ceil(cores / Math.max(1, active)));
  }

  get size(): number {
    return this.#size + this.fill;
  }

  /** Hands the block (full, or the last) to the thread pool and starts the next. */
  submit(last: boolean): void {
    const input = this.block.subarray(0, this.fill);
    this.#size += this.fill;
    this.#crc = zlib.crc32(input, this.#crc);
    const options: zlib.ZlibOptions = {
      level: this.level,
      windowBits: 15,
      // memLevel 9 (zlib's largest hash table): at level 3 about 12% faster than the default 8, for 0.2% more bytes.
      memLevel: 9,
      strategy: zlib.constants.Z_DEFAULT_STRATEGY,
      finishFlush: last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
      chunkSize: 256 << 10,
      ...(this.#dictionary ? { dictionary: this.#dictionary } : {}),
    };
    const block = this.block;
    // A block that would not shrink is stored (deflate's uncompressed blocks), ended as the others are.
    // The samples that tell start now, outside the deflate jobs, so a job never holds its place
    // while they go to the thread pool and back.
    const { dictionary: _, ...plain } = options;
    const stored = quiet(incompressible(input));
    const deflate = async () => deflateBlock(input, (await stored) ? { ...plain, level: 0 } : options, this.lend);
    // A failed block fails the stream when its turn comes; until then it must not count as unhandled.
    this.#pending.push(quiet(deflates(deflate).then((out) => ({ out, block }))));
    // Every block but the last is full, so the next one's dictionary is always a whole window. It is
    // copied: the block's buffer is reused once its own deflate is done.
    if (!last) this.#dictionary = Buffer.from(input.subarray(input.length - WINDOW));
    this.block = this.#free.pop() ?? Buffer.allocUnsafe(GZIP_BLOCK);
    this.fill = 0;
  }

  /** Emits finished blocks, in order, until at most `keep` are pending. */
  async drain(keep: number): Promise<void> {
    while (this.#pending.length > keep) {
      const { out, block } = await this.#pending.shift()!;
      this.#free.push(block);
      for (const part of out) this.emit(part);
    }
  }

  get pending(): number {
    return this.#pending.length;
  }

  /** Compresses the last block, emits everything and the trailer. */
  async finish(): Promise<void> {
    this.submit(true);
    await this.drain(0);
    this.stop();
    const trailer = Buffer.allocUnsafe(8);
    trailer.writeUInt32LE(this.#crc >>> 0, 0);
    // ISIZE is the length modulo 2^32 (RFC 1952 section 2.3.1).
    trailer.writeUInt32LE(this.#size % 2 ** 32, 4);
    this.emit(trailer);
  }

  /** No longer compressing (done or destroyed): the other streams get the cores. */
  stop(): void {
    if (this.#counted) active--;
    this.#counted = false;
    if (active === 0) releaseBuffers();
  }
}

/**
 * gzip on several cores at once (see {@link GzipBlocks}), as a Transform of any byte stream. Each
 * chunk written is copied into the current block.
 */
export class ParallelGzip extends Transform {
  readonly #level: number;
  readonly #lend: boolean;
  #blocks: GzipBlocks | undefined;

  /** `lend`: compressed blocks come out as lent views (see {@link RELEASE}), for a consumer that hands them back. */
  constructor(level: number, options: { lend?: boolean } = {}) {
    super({ highWaterMark: 1 << 20 });
    this.#level = level;
    this.#lend = options.lend ?? false;
  }

  #started(): GzipBlocks {
    this.#blocks ??= new GzipBlocks(this.#level, (chunk) => this.push(chunk), this.#lend);
    return this.#blocks;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#take(this.#started(), chunk).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.#started()
      .finish()
      .then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#blocks?.stop();
    callback(error);
  }

  async #take(blocks: GzipBlocks, chunk: Buffer): Promise<void> {
    for (let at = 0; at < chunk.length; ) {
      const n = Math.min(chunk.length - at, GZIP_BLOCK - blocks.fill);
      chunk.copy(blocks.block, blocks.fill, at, at + n);
      at += n;
      blocks.fill += n;
      if (blocks.fill === GZIP_BLOCK) {
        blocks.submit(false);
        await blocks.drain(GzipBlocks.ahead);
      }
    }
  }
}

/** Whether `stream` is a strata archive that can write itself into a sink (and has not started streaming). */
export function isInlineArchive(stream: unknown): stream is InlineArchive {
  return typeof stream === 'object' && stream !== null && INLINE in stream;
}

/**
 * gzip of one of strata's own archives (a layer tar), which writes itself straight into the blocks:
 * file contents are read into the block that is compressed next, with no chunk between (no copy, and
 * no fresh buffer a chunk: that garbage cost about a sixth of a push's CPU in collections). The
 * archive's own digest (its diffID) is computed here, from the blocks, on the way.
 */
export class GzipArchiveStream extends Readable {
  readonly #archive: InlineArchive;
  readonly #level: number;
  #blocks: GzipBlocks | undefined;
  /** Open digests, innermost last (an archive written in place inside another hashes both). */
  #hashes: Hash[] = [];
  /** Bytes of the current block already hashed. */
  #hashed = 0;
  #failure: Error | undefined;
  /** Set while the reader has enough: production waits on it. */
  #backlog: ReturnType<typeof deferred<void>> | undefined;

  readonly #lend: boolean;

  /** `lend`: compressed blocks come out as lent views (see {@link RELEASE}), for a consumer that hands them back. */
  constructor(archive: InlineArchive, level: number, options: { lend?: boolean } = {}) {
    super({ highWaterMark: 1 << 20 });
    this.#archive = archive;
    this.#level = level;
    this.#lend = options.lend ?? false;
  }

  override _read(): void {
    if (this.#blocks) {
      const wanted = this.#backlog;
      this.#backlog = undefined;
      wanted?.resolve();
      return;
    }
    const blocks = new GzipBlocks(
      this.#level,
      (chunk) => {
        if (!this.push(chunk) && !this.#backlog) this.#backlog = deferred<void>();
      },
      this.#lend,
    );
    this.#blocks = blocks;
    const written = this.#archive[INLINE](this.#sink(blocks));
    if (written === undefined) {
      this.destroy(new Error('gzip: the archive is already being read'));
      return;
    }
    written.then(
      () => blocks.finish().then(() => this.push(null)),
      (error: unknown) => this.destroy(error as Error),
    ).catch((error: unknown) => this.destroy(error as Error));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#failure ??= error ?? new Error('gzip stream destroyed');
    this.#blocks?.stop();
    this.#backlog?.reject(this.#failure);
    this.#backlog = undefined;
    callback(error);
  }

  #hashUp(blocks: GzipBlocks): void {
    if (blocks.fill > this.#hashed) for (const hash of this.#hashes) hash.update(blocks.block.subarray(this.#hashed, blocks.fill));
    this.#hashed = blocks.fill;
  }

  #sink(blocks: GzipBlocks): ArchiveSink {
    const self = this;
    return {
      get written() {
        return blocks.size;
      },
      get buffer() {
        return blocks.block;
      },
      get offset() {
        return blocks.fill;
      },
      room(): number | Promise<void> {
        if (self.#failure) throw self.#failure;
        if (self.#backlog) return self.#backlog.promise;
        if (blocks.fill === GZIP_BLOCK) {
          self.#hashUp(blocks);
          blocks.submit(false);
          self.#hashed = 0;
        }
        if (blocks.pending > GzipBlocks.ahead) return blocks.drain(GzipBlocks.ahead);
        return GZIP_BLOCK - blocks.fill;
      },
      commit(count: number): void {
        blocks.fill += count;
      },
      beginDigest(): void {
        self.#hashUp(blocks);
        self.#hashes.push(createHash('sha256'));
      },
      endDigest(): Promise<string> {
        self.#hashUp(blocks);
        const hash = self.#hashes.pop();
        if (hash === undefined) return Promise.reject(new Error('endDigest: no digest is open'));
        return Promise.resolve(`sha256:${hash.digest('hex')}`);
      },
      // Nothing waits on part of a block: a block is handed on when it is full.
      flush: () => undefined,
    };
  }
}
