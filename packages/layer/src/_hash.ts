// sha256 of archive bytes as they stream through, inline or on a worker thread.
//
// The worker hashes straight out of a shared ring buffer that the producer fills: an archive being
// written to a file descriptor reads files into that ring, the worker hashes them there and the
// pipe or file write copies them out, so no byte is copied on the main thread (RingHasher). Marks
// published with the bytes say where each digest starts and ends, so one ring carries a whole
// docker-archive and the worker hashes each layer in it. For a Readable, whose chunks are handed to
// consumers we do not control, the bytes are copied into a private ring instead (createSha256 with a
// thread); on two cores that copy and the wake-ups cost what the parallelism saves, so a Readable
// is hashed inline there.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';

// node:worker_threads is loaded with the first hash thread: most runs start none (two cores, or a
// push), and loading it cost about 4 ms of every start-up.
const nodeRequire = createRequire(import.meta.url);

/** An incremental sha256 whose digest resolves as `sha256:<hex>`. */
export interface Sha256 {
  update(chunk: Uint8Array): void;
  digest(): Promise<string>;
  /** Gives up: the digest is never needed (the stream failed or was aborted). */
  cancel(): void;
}

// ctrl slots (BigInt64): bytes published by the producer, bytes the worker has passed, the
// producer's done flag, a change counter the worker sleeps on, 1 while it sleeps, marks published,
// marks applied; then the mark table, two slots a mark: its offset and its id (> 0 starts digest
// id, < 0 ends digest -id). Digests may overlap: each byte goes into every digest open over it.
const HEAD = 0;
const TAIL = 1;
const DONE = 2;
const EPOCH = 3;
const SLEEPING = 4;
const PUBLISHED = 5;
const APPLIED = 6;
const MARKS = 8;
const MARK_SLOTS = 256;
/** Bytes hashed between reports of progress: the producer reuses ring space as soon as it is hashed. */
const PIECE = 512 << 10;

/** Atomics.waitAsync (V8 has it since Node 16; TypeScript's lib only from es2024). */
const waitAsync = (Atomics as unknown as { waitAsync(a: BigInt64Array, i: number, v: bigint): { async: boolean; value: Promise<string> | string } }).waitAsync;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', ({ ring, ctrl, start }) => {
  const bytes = new Uint8Array(ring);
  const size = bytes.length;
  const c = new BigInt64Array(ctrl);
  let tail = start;
  let applied = 0;
  // Digests open at once: they nest (an archive written in place inside another), all hash the same bytes.
  const hashes = new Map();
  for (;;) {
    const epoch = Atomics.load(c, ${EPOCH});
    const done = Atomics.load(c, ${DONE}) === 1n;
    const head = Number(Atomics.load(c, ${HEAD}));
    const published = Number(Atomics.load(c, ${PUBLISHED}));
    let limit = head;
    if (applied < published) {
      const slot = ${MARKS} + 2 * (applied % ${MARK_SLOTS});
      const at = Number(Atomics.load(c, slot));
      if (at <= tail) {
        const id = Number(Atomics.load(c, slot + 1));
        if (id > 0) {
          hashes.set(id, createHash('sha256'));
        } else {
          parentPort.postMessage({ id: -id, hex: hashes.get(-id).digest('hex') });
          hashes.delete(-id);
        }
        applied++;
        Atomics.store(c, ${APPLIED}, BigInt(applied));
        Atomics.notify(c, ${APPLIED});
        continue;
      }
      if (at < limit) limit = at;
    }
    if (limit > tail) {
      const end = Math.min(limit, tail + ${PIECE});
      if (hashes.size > 0) {
        const from = tail % size;
        const n = end - tail;
        const first = Math.min(n, size - from);
        for (const hash of hashes.values()) {
          hash.update(bytes.subarray(from, from + first));
          if (first < n) hash.update(bytes.subarray(0, n - first));
        }
      }
      tail = end;
      Atomics.store(c, ${TAIL}, BigInt(tail));
      Atomics.notify(c, ${TAIL});
      continue;
    }
    if (done) break;
    Atomics.store(c, ${SLEEPING}, 1n);
    Atomics.wait(c, ${EPOCH}, epoch);
    Atomics.store(c, ${SLEEPING}, 0n);
  }
  parentPort.postMessage({ done: true });
});
`;

/** Worker threads kept for the next archive: starting one costs tens of milliseconds. */
const idle: Worker[] = [];

/** A hash thread; it takes none of the process's flags (`--input-type=module` would make its CommonJS source fail). */
function newWorker(): Worker {
  const threads: typeof import('node:worker_threads') = nodeRequire('node:worker_threads');
  const worker = new threads.Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
  // A thread that ends while idle (it failed to start) must not be handed out.
  worker.once('exit', () => {
    const at = idle.indexOf(worker);
    if (at !== -1) idle.splice(at, 1);
  });
  return worker;
}

/**
 * Starts a hash thread now, unless one is idle, so that the next archive written with writeToFd
 * does not wait tens of milliseconds for it to boot. It does not keep the process alive. Resolves
 * once the thread runs (at once when one was idle; also if it failed to start, which the archive
 * that uses it then reports).
 */
export function startHashThread(): Promise<void> {
  if (idle.length > 0) return Promise.resolve();
  const worker = newWorker();
  worker.unref();
  idle.push(worker);
  return new Promise((resolve) => {
    worker.once('online', () => resolve());
    worker.once('error', () => resolve());
  });
}

function acquireWorker(): Worker {
  const worker = idle.pop() ?? newWorker();
  worker.ref();
  return worker;
}

/** Wake the worker after this many unsignalled bytes; a futex wake per 512-byte header costs more than hashing it. */
const BATCH = 256 << 10;

/**
 * A worker thread hashing ranges of a shared ring that the caller fills and publishes. The caller
 * may reuse ring bytes below {@link RingHasher.tail}, and must publish marks before the bytes they
 * precede.
 */
export class RingHasher {
  readonly #ctrl = new BigInt64Array(new SharedArrayBuffer(8 * (MARKS + 2 * MARK_SLOTS)));
  readonly #worker = acquireWorker();
  readonly #pending = new Map<number, { resolve: (d: string) => void; reject: (e: unknown) => void }>();
  readonly #finished: Promise<void>;
  #rejectFinished!: (error: unknown) => void;
  #failure: unknown;
  #published = 0;
  #nextId = 1;
  #head = 0;
  #unsignalled = 0;

  /** Hashes `ring`, whose bytes before offset `start` (a running count) are not for it. */
  constructor(ring: SharedArrayBuffer, start = 0) {
    this.#head = start;
    Atomics.store(this.#ctrl, HEAD, BigInt(start));
    Atomics.store(this.#ctrl, TAIL, BigInt(start));
    const onMessage = (message: { id?: number; hex?: string; done?: boolean }) => {
      if (message.id === undefined) return;
      this.#pending.get(message.id)?.resolve(`sha256:${message.hex}`);
      this.#pending.delete(message.id);
    };
    this.#worker.on('message', onMessage);
    this.#finished = new Promise<void>((resolve, reject) => {
      this.#rejectFinished = reject;
      const onDone = (message: { done?: boolean }) => {
        if (message.done !== true) return;
        cleanup();
        this.#worker.unref();
        idle.push(this.#worker);
        resolve();
      };
      const onError = (error: unknown) => {
        cleanup();
        this.#fail(error);
        reject(error);
      };
      const cleanup = () => {
        this.#worker.off('message', onMessage);
        this.#worker.off('message', onDone);
        this.#worker.off('error', onError);
      };
      this.#worker.on('message', onDone);
      this.#worker.once('error', onError);
    });
    this.#finished.catch(() => {});
    this.#worker.postMessage({ ring, ctrl: this.#ctrl.buffer, start });
  }

  #fail(error: unknown): void {
    this.#failure ??= error;
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
    // finish() settles too: after cancel() the worker is terminated and will never say it is done,
    // and a promise nothing settles keeps no handle open, so Node would exit with the caller
    // still waiting (exit 13, the partial output and work directories left behind).
    this.#rejectFinished(error);
    // Wake anyone waiting on progress that will now never come.
    Atomics.store(this.#ctrl, TAIL, BigInt(Number.MAX_SAFE_INTEGER));
    Atomics.notify(this.#ctrl, TAIL);
  }

  /** Bytes the worker is done with: the ring below this offset may be overwritten. */
  get tail(): number {
    return Number(Atomics.load(this.#ctrl, TAIL));
  }

  /** Makes `head` (a running byte count) visible to the worker, waking it once enough is waiting. */
  publish(head: number): void {
    this.#unsignalled += head - this.#head;
    this.#head = head;
    Atomics.store(this.#ctrl, HEAD, BigInt(head));
    if (this.#unsignalled >= BATCH) this.signal();
  }

  /** Wakes the worker if it sleeps. */
  signal(): void {
    this.#unsignalled = 0;
    Atomics.add(this.#ctrl, EPOCH, 1n);
    if (Atomics.load(this.#ctrl, SLEEPING) === 1n) Atomics.notify(this.#ctrl, EPOCH);
  }

  #mark(at: number, id: number): void {
    const c = this.#ctrl;
    // A full table means the worker is hundreds of digests behind within one ring; it catches up
    // in well under a millisecond per mark, so waiting here is bounded.
    while (this.#published - Number(Atomics.load(c, APPLIED)) >= MARK_SLOTS) {
      this.signal();
      Atomics.wait(c, APPLIED, Atomics.load(c, APPLIED), 10);
    }
    const slot = MARKS + 2 * (this.#published % MARK_SLOTS);
    Atomics.store(c, slot, BigInt(at));
    Atomics.store(c, slot + 1, BigInt(id));
    this.#published++;
    Atomics.store(c, PUBLISHED, BigInt(this.#published));
  }

  /** Starts a digest of the bytes from offset `at` (at or after the last published byte). */
  begin(at: number): number {
    const id = this.#nextId++;
    this.#mark(at, id);
    return id;
  }

  /** Ends digest `id` at offset `at`; resolves once the worker has hashed up to there. */
  end(id: number, at: number): Promise<string> {
    const digest = new Promise<string>((resolve, reject) => {
      if (this.#failure !== undefined) reject(this.#failure);
      else this.#pending.set(id, { resolve, reject });
    });
    this.#mark(at, -id);
    this.signal();
    return digest;
  }

  /** Resolves once the worker has passed `current` (or failed). */
  async progress(current: number): Promise<void> {
    this.signal();
    const wait = waitAsync(this.#ctrl, TAIL, BigInt(current));
    if (wait.async) await wait.value;
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Blocks until the worker has passed `current`: for callers that must not return before there is room. */
  progressSync(current: number): void {
    this.signal();
    Atomics.wait(this.#ctrl, TAIL, BigInt(current), 1000);
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** No more bytes or marks: resolves when the worker has hashed everything and is back in the pool. */
  finish(): Promise<void> {
    Atomics.store(this.#ctrl, DONE, 1n);
    this.signal();
    return this.#finished;
  }

  /** Gives up: the worker may be mid-hash of a dead stream; it is not worth waiting for or reusing. */
  cancel(error: unknown = new Error('hashing cancelled')): void {
    this.#fail(error);
    void this.#worker.terminate();
  }
}

const COPY_RING = 4 << 20;

/** A sha256 on a worker thread for bytes we do not own: each chunk is copied into a private ring. */
class ParallelSha256 implements Sha256 {
  readonly #ring = new SharedArrayBuffer(COPY_RING);
  readonly #bytes = new Uint8Array(this.#ring);
  readonly #hasher = new RingHasher(this.#ring);
  readonly #id = this.#hasher.begin(0);
  #head = 0;

  update(chunk: Uint8Array): void {
    for (let off = 0; off < chunk.length; ) {
      const free = COPY_RING - (this.#head - this.#hasher.tail);
      if (free === 0) {
        // Called synchronously by a stream: block until the worker frees some ring.
        this.#hasher.progressSync(this.#hasher.tail);
        continue;
      }
      const pos = this.#head % COPY_RING;
      const n = Math.min(free, COPY_RING - pos, chunk.length - off);
      this.#bytes.set(chunk.subarray(off, off + n), pos);
      off += n;
      this.#head += n;
      this.#hasher.publish(this.#head);
    }
  }

  async digest(): Promise<string> {
    const digest = this.#hasher.end(this.#id, this.#head);
    await this.#hasher.finish();
    return digest;
  }

  cancel(): void {
    this.#hasher.cancel();
  }
}

/** Archives at least this large are hashed on a worker thread (when threads are used at all). */
export const PARALLEL_HASH_THRESHOLD = 1 << 20;

/**
 * Whether hashing a Readable's chunks on a thread of its own pays by default: it needs a core
 * besides the one that reads and writes and the one the consumer (a pipe reader, a compressor)
 * runs on. On two cores the copy into the ring and the wake-ups cost what the parallelism saves.
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
