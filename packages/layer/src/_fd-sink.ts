// An ArchiveSink writing to a file descriptor through one reused ring buffer, the way `tar | openssl`
// uses two cores: the main thread reads files straight into the ring, a worker thread hashes the
// layers there (RingHasher), and the thread pool writes the ring out in large writes. Ring space is
// reused only once both the write and the hash have passed it; nothing is allocated per read, so
// no fresh pages are faulted in and memory stays at the ring's size whatever the archive's.
import { createHash, type Hash } from 'node:crypto';
import { write } from 'node:fs';
import { PARALLEL_HASH_THRESHOLD, RingHasher } from './_hash.js';
import type { ArchiveSink, Wait } from './_produce.js';

/** Options for an FdSink. */
export interface FdSinkOptions {
  /** Hash on a worker thread; otherwise inline as bytes are committed. */
  readonly hashThread: boolean;
  /** Told how many more bytes have been written, after each write. */
  readonly onProgress?: (bytes: number) => void;
  /** @default 4 MiB */
  readonly ringSize?: number;
}

const RING = 4 << 20;
/** Largest single write: big enough that a pipe write is few syscalls, small enough to free the ring in steps. */
const MAX_WRITE = 1 << 20;
/** A write is started once this much is waiting (or when the producer waits or flushes). */
const MIN_WRITE = 256 << 10;
/**
 * The producer runs synchronously (reads are page-cache copies); after this many bytes it lets the
 * event loop run, so finished writes are seen and the next ones started.
 */
const YIELD_AFTER = 1 << 20;

/** A sink writing everything it is given to `fd`, in order. */
export class FdSink implements ArchiveSink {
  readonly #fd: number;
  readonly #options: FdSinkOptions;
  readonly #sab: SharedArrayBuffer;
  readonly #ring: Buffer;
  readonly #size: number;
  #hasher: RingHasher | undefined;
  /** Open digests, innermost last: hashed here as bytes are committed, or by the worker (its id). */
  readonly #digests: ({ readonly inline: Hash } | { readonly id: number })[] = [];
  /** The open digests hashed here (usually none or one). */
  #inline: Hash[] = [];
  #head = 0;
  #writeTail = 0;
  #writing = false;
  #sinceYield = 0;
  #failure: unknown;
  /**
   * Who waits for the next write to complete: the producer, and an abort or two (the signal's and
   * the failed write's). Each must be woken; a single slot lost a waiter, and a promise nothing
   * settles keeps no handle open, so Node exited (13) halfway through cleaning up.
   */
  #wakes: (() => void)[] = [];

  constructor(fd: number, options: FdSinkOptions) {
    this.#fd = fd;
    this.#options = options;
    this.#size = options.ringSize ?? RING;
    this.#sab = new SharedArrayBuffer(this.#size);
    this.#ring = Buffer.from(this.#sab);
  }

  get written(): number {
    return this.#head;
  }

  #reusableFrom(): number {
    return Math.min(this.#writeTail, this.#hasher ? this.#hasher.tail : this.#head);
  }

  get buffer(): Buffer {
    return this.#ring;
  }

  get offset(): number {
    return this.#head % this.#size;
  }

  room(): number | Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#sinceYield >= YIELD_AFTER) return this.#yield();
    const free = this.#size - (this.#head - this.#reusableFrom());
    if (free < this.#size / 64) return this.#waitForRoom();
    return Math.min(free, this.#size - (this.#head % this.#size));
  }

  commit(count: number): void {
    if (this.#inline.length > 0) {
      const at = this.#head % this.#size;
      for (const hash of this.#inline) hash.update(this.#ring.subarray(at, at + count));
    }
    this.#head += count;
    this.#sinceYield += count;
    this.#hasher?.publish(this.#head);
    if (!this.#writing && this.#head - this.#writeTail >= MIN_WRITE) this.#startWrite();
  }

  beginDigest(expectedSize: number): void {
    if (!this.#options.hashThread || expectedSize < PARALLEL_HASH_THRESHOLD) {
      const inline = createHash('sha256');
      this.#digests.push({ inline });
      this.#inline = [...this.#inline, inline];
      return;
    }
    this.#hasher ??= new RingHasher(this.#sab, this.#head);
    this.#digests.push({ id: this.#hasher.begin(this.#head) });
  }

  endDigest(): Promise<string> {
    const digest = this.#digests.pop();
    if (digest === undefined) return Promise.reject(new Error('endDigest: no digest is open'));
    if ('inline' in digest) {
      this.#inline = this.#inline.filter((hash) => hash !== digest.inline);
      return Promise.resolve(`sha256:${digest.inline.digest('hex')}`);
    }
    return this.#hasher!.end(digest.id, this.#head);
  }

  flush(): Wait {
    if (this.#failure !== undefined) throw this.#failure;
    if (!this.#writing && this.#head > this.#writeTail) this.#startWrite();
    this.#hasher?.signal();
    return undefined;
  }

  #startWrite(): void {
    const at = this.#writeTail % this.#size;
    const length = Math.min(this.#head - this.#writeTail, this.#size - at, MAX_WRITE);
    this.#writing = true;
    write(this.#fd, this.#ring, at, length, null, (error, written) => {
      this.#writing = false;
      if (error) {
        this.#failure ??= error;
      } else {
        this.#writeTail += written;
        this.#options.onProgress?.(written);
        // While the producer waits (or at the end), every byte counts; otherwise gather a large write.
        if (this.#failure === undefined && this.#head - this.#writeTail >= (this.#wakes.length > 0 ? 1 : MIN_WRITE)) this.#startWrite();
      }
      this.#wakeUp();
    });
  }

  #wakeUp(): void {
    const wakes = this.#wakes;
    this.#wakes = [];
    for (const wake of wakes) wake();
  }

  /** Resolves at the next write completion (or failure). */
  #written(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wakes.push(resolve);
    });
  }

  #yield(): Promise<void> {
    this.#sinceYield = 0;
    this.#hasher?.signal();
    return new Promise((resolve) => setImmediate(resolve));
  }

  /** Waits until a quarter of the ring is free: whichever of the write and the hash is behind. */
  async #waitForRoom(): Promise<void> {
    for (;;) {
      if (this.#failure !== undefined) throw this.#failure;
      if (this.#size - (this.#head - this.#reusableFrom()) >= this.#size / 4) return;
      if (!this.#writing && this.#head > this.#writeTail) this.#startWrite();
      const hashTail = this.#hasher ? this.#hasher.tail : this.#head;
      if (hashTail < this.#writeTail) await this.#hasher!.progress(hashTail);
      else await this.#written();
    }
  }

  /** Writes out everything committed and lets the hasher finish; resolves when both are done. */
  async finish(): Promise<void> {
    while (this.#head > this.#writeTail) {
      if (this.#failure !== undefined) throw this.#failure;
      if (!this.#writing) this.#startWrite();
      await this.#written();
    }
    if (this.#failure !== undefined) throw this.#failure;
    await this.#hasher?.finish();
  }

  /**
   * Stops with `error`: waiters reject, the hasher is dropped. Resolves once no write is in flight,
   * so the caller may close the descriptor.
   */
  async abort(error: unknown): Promise<void> {
    this.#failure ??= error;
    this.#hasher?.cancel(error);
    this.#wakeUp();
    while (this.#writing) await this.#written();
  }
}
