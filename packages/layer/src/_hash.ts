// sha256 of a layer as its bytes stream through. By default it runs on the main thread: measured on
// 2 cores, a worker thread did not pay (the main thread mostly hashes while reads and writes run in
// the thread pool), and it cost about 25 MiB of RSS. With 3 or more cores, or when forced with the
// hashThread option, the bytes are copied into a shared ring buffer and a worker thread hashes them
// in parallel, so a layer costs one read, one memcpy and one write on the main thread.
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** An incremental sha256 whose digest resolves as `sha256:<hex>`. */
export interface Sha256 {
  update(chunk: Uint8Array): void;
  digest(): Promise<string>;
  /** Gives up: the digest is never needed (the stream failed or was aborted). */
  cancel(): void;
}

const RING = 4 << 20;
const PIECE = RING / 4;
/** Wake the worker after this many unsignalled bytes; a futex wake per 512-byte header costs more than hashing it. */
const BATCH = 256 << 10;
// ctrl: [0] bytes written by the producer, [1] bytes hashed, [2] done flag, [3] change counter,
// [4] 1 while the worker sleeps (the producer skips the futex wake otherwise).
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', ({ ring: sab, ctrl: csab, size }) => {
  const ring = new Uint8Array(sab);
  const c = new BigInt64Array(csab);
  const hash = createHash('sha256');
  let tail = 0n;
  for (;;) {
    const epoch = Atomics.load(c, 3);
    const head = Atomics.load(c, 0);
    if (head === tail) {
      if (Atomics.load(c, 2) === 1n) break;
      Atomics.store(c, 4, 1n);
      Atomics.wait(c, 3, epoch);
      Atomics.store(c, 4, 0n);
      continue;
    }
    const from = Number(tail % BigInt(size));
    const n = Number(head - tail);
    const first = Math.min(n, size - from);
    hash.update(ring.subarray(from, from + first));
    if (first < n) hash.update(ring.subarray(0, n - first));
    tail = head;
    Atomics.store(c, 1, tail);
    Atomics.notify(c, 1);
  }
  parentPort.postMessage(hash.digest('hex'));
});
`;

/** A hashing thread with its own ring; both are reused, since a ring is large and freed only by GC. */
interface Hasher {
  readonly worker: Worker;
  readonly ring: Uint8Array;
  readonly ctrl: BigInt64Array;
}

const idle: Hasher[] = [];

function acquireHasher(): Hasher {
  const hasher = idle.pop() ?? {
    worker: new Worker(WORKER_SOURCE, { eval: true }),
    ring: new Uint8Array(new SharedArrayBuffer(RING)),
    ctrl: new BigInt64Array(new SharedArrayBuffer(40)),
  };
  hasher.ctrl.fill(0n);
  hasher.worker.ref();
  return hasher;
}

function releaseHasher(hasher: Hasher): void {
  hasher.worker.unref();
  idle.push(hasher);
}

class ParallelSha256 implements Sha256 {
  readonly #hasher = acquireHasher();
  readonly #ring = this.#hasher.ring;
  readonly #ctrl = this.#hasher.ctrl;
  readonly #worker = this.#hasher.worker;
  readonly #result: Promise<string>;
  #head = 0n;
  #unsignalled = 0;

  constructor() {
    this.#result = new Promise<string>((resolve, reject) => {
      this.#worker.once('message', (hex: string) => {
        this.#worker.off('error', reject);
        releaseHasher(this.#hasher);
        resolve(`sha256:${hex}`);
      });
      this.#worker.once('error', reject);
    });
    this.#result.catch(() => {});
    this.#worker.postMessage({ ring: this.#ring.buffer, ctrl: this.#ctrl.buffer, size: RING });
  }

  update(chunk: Uint8Array): void {
    for (let off = 0; off < chunk.length; off += PIECE) this.#put(chunk.subarray(off, off + PIECE));
  }

  #put(piece: Uint8Array): void {
    const c = this.#ctrl;
    for (let tail = Atomics.load(c, 1); RING - Number(this.#head - tail) < piece.length; tail = Atomics.load(c, 1)) {
      if (this.#unsignalled > 0) this.#signal();
      Atomics.wait(c, 1, tail);
    }
    const pos = Number(this.#head % BigInt(RING));
    const first = Math.min(piece.length, RING - pos);
    this.#ring.set(piece.subarray(0, first), pos);
    if (first < piece.length) this.#ring.set(piece.subarray(first), 0);
    this.#head += BigInt(piece.length);
    Atomics.store(c, 0, this.#head);
    this.#unsignalled += piece.length;
    if (this.#unsignalled >= BATCH) this.#signal();
  }

  #signal(): void {
    this.#unsignalled = 0;
    Atomics.add(this.#ctrl, 3, 1n);
    if (Atomics.load(this.#ctrl, 4) === 1n) Atomics.notify(this.#ctrl, 3);
  }

  cancel(): void {
    // The worker may be mid-hash of a dead stream; it is not worth waiting for or reusing.
    void this.#worker.terminate();
  }

  digest(): Promise<string> {
    Atomics.store(this.#ctrl, 2, 1n);
    this.#signal();
    return this.#result;
  }
}

/** Archives at least this large are hashed on a worker thread (when threads are used at all). */
export const PARALLEL_HASH_THRESHOLD = 1 << 20;

/**
 * Whether hashing on a thread of its own pays by default: it needs a core besides the one that
 * reads and writes and the one the consumer (a pipe reader, a compressor) runs on. On two cores
 * the copy into the ring and the wake-ups cost what the parallelism saves, and the thread adds
 * ~25 MiB of RSS (measured in bench/stream-layered).
 */
export function defaultHashThread(): boolean {
  return availableParallelism() >= 3;
}

/** A sha256 for about `expectedSize` bytes: on a worker thread when large and `thread`, else inline. */
export function createSha256(expectedSize: number, thread = defaultHashThread()): Sha256 {
  if (thread && expectedSize >= PARALLEL_HASH_THRESHOLD) return new ParallelSha256();
  const hash = createHash('sha256');
  return {
    update: (chunk) => void hash.update(chunk),
    digest: async () => `sha256:${hash.digest('hex')}`,
    cancel: () => {},
  };
}
