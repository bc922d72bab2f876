// An ArchiveSink for a Readable: chunks handed to a consumer we do not control (a compressor, an
// upload, a test collecting them) must never be written to again, so bytes go into fresh slabs,
// each filled by many reads (headers, small files whole) and pushed as large chunks.
import { createSha256, type Sha256 } from './_hash.js';
import type { ArchiveSink, Wait } from './_produce.js';

const SLAB = 1 << 20;
/** A slab with less room than this is pushed and replaced rather than filled with slivers. */
const MIN_ROOM = 4 << 10;

/** Options for a StreamSink. */
export interface StreamSinkOptions {
  /** Hands a chunk to the Readable; false asks the producer to wait for {@link StreamSink.resume}. */
  readonly push: (chunk: Buffer) => boolean;
  /** Hash large digests on a worker thread. @default defaultHashThread() */
  readonly hashThread?: boolean;
}

/** A sink pushing fresh buffers to a Readable. */
export class StreamSink implements ArchiveSink {
  readonly #options: StreamSinkOptions;
  #slab = Buffer.alloc(0);
  /** Start of the bytes not pushed yet, end of the bytes committed, end of the bytes hashed. */
  #start = 0;
  #end = 0;
  #hashed = 0;
  #written = 0;
  /** Open digests, innermost last: nested archives each hash their own bytes, all of them the outer's too. */
  #hashes: Sha256[] = [];
  #failure: unknown;
  #paused: { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | undefined;

  constructor(options: StreamSinkOptions) {
    this.#options = options;
  }

  get written(): number {
    return this.#written;
  }

  get buffer(): Buffer {
    return this.#slab;
  }

  get offset(): number {
    return this.#end;
  }

  room(): number | Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#paused) return this.#paused.promise;
    if (this.#slab.length - this.#end < MIN_ROOM) {
      this.#push();
      if (this.#paused) return (this.#paused as { promise: Promise<void> }).promise;
      this.#slab = Buffer.allocUnsafeSlow(SLAB);
      this.#start = 0;
      this.#end = 0;
      this.#hashed = 0;
    }
    return this.#slab.length - this.#end;
  }

  commit(count: number): void {
    this.#end += count;
    this.#written += count;
  }

  /** Hashes what was committed since the last call, in one update. */
  #hashUp(): void {
    if (this.#end > this.#hashed) for (const hash of this.#hashes) hash.update(this.#slab.subarray(this.#hashed, this.#end));
    this.#hashed = this.#end;
  }

  #push(): void {
    this.#hashUp();
    if (this.#end === this.#start) return;
    const chunk = this.#slab.subarray(this.#start, this.#end);
    this.#start = this.#end;
    if (this.#options.push(chunk)) return;
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Only a waiting producer must hear of an abort; after the last chunk nobody waits.
    promise.catch(() => {});
    this.#paused = { promise, resolve, reject };
  }

  /** The Readable wants more: a producer waiting on a full buffer may go on. */
  resume(): void {
    const paused = this.#paused;
    this.#paused = undefined;
    paused?.resolve();
  }

  beginDigest(expectedSize: number): void {
    this.#hashUp();
    // Only the outermost digest may take a worker thread: a nested one's bytes are a part of it.
    this.#hashes.push(createSha256(expectedSize, this.#hashes.length === 0 ? this.#options.hashThread : false));
  }

  endDigest(): Promise<string> {
    this.#hashUp();
    const hash = this.#hashes.pop();
    if (hash === undefined) return Promise.reject(new Error('endDigest: no digest is open'));
    return hash.digest();
  }

  flush(): Wait {
    this.#push();
    return this.#paused?.promise;
  }

  /** Pushes what is left; the caller ends the Readable. */
  finish(): void {
    this.#push();
  }

  /** Stops with `error`: a waiting producer rejects, a worker hash is dropped. */
  abort(error: unknown): void {
    this.#failure ??= error;
    for (const hash of this.#hashes) hash.cancel();
    this.#hashes = [];
    const paused = this.#paused;
    this.#paused = undefined;
    paused?.reject(error);
  }
}
