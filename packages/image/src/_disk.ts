// Writing below an unpack root. Every path given here is canonical (see _tree.ts): its parents are
// directories this code made, so the kernel resolves no symlink on the way, and the last component
// is created with O_EXCL | O_NOFOLLOW, so even a model that had gone wrong could not write through
// a link. Nothing is chowned and no special mode bit is set: the image's owners and modes live in
// the metadata map, so the tree is the same whoever unpacks it, root or not.
import { close, closeSync, constants, linkSync, mkdirSync, openSync, rmSync, symlinkSync, write } from 'node:fs';
import type { Readable } from 'node:stream';
import type { TreeDisk } from './_tree.js';

/** The disk side of an unpack: files, links and placeholders below `root`. */
export interface UnpackDisk extends TreeDisk {
  /**
   * Writes a regular file from `body` (exactly what the layer holds). Resolves once `body` is
   * consumed: the file is created at once, its bytes may still be on their way ({@link flush}).
   */
  writeFile(path: string, mode: number, body: Readable, signal?: AbortSignal): Promise<void>;
  /** Waits until every file's bytes are written and its descriptor closed; rejects with the first write that failed. */
  flush(): Promise<void>;
  /** An empty file standing for a device node or fifo. */
  placeholder(path: string): void;
  symlink(path: string, target: string): void;
  /** A hard link at `path` to the existing `target` (never followed if it is a symlink: link(2)). */
  link(path: string, target: string): void;
}

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * File bytes handed to the thread pool and not yet written, at most. The walk goes on to the next
 * entries while they are written: waiting for each file's writes before reading the next entry
 * left the main thread idle for half an export.
 */
const WRITE_BEHIND = 16 << 20;

/** Writes all of `chunk` at `position` of `fd` on the thread pool. */
function writeAt(fd: number, chunk: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const next = (offset: number) =>
      write(fd, chunk, offset, chunk.length - offset, position + offset, (error, written) => {
        if (error) reject(error);
        else if (offset + written < chunk.length) next(offset + written);
        else resolve();
      });
    next(0);
  });
}

/**
 * Writes files behind the walk: each file's chunks are written at their positions on the thread
 * pool while the walk reads on, with {@link WRITE_BEHIND} bytes in flight at most, and its
 * descriptor is closed once they are written. The first failure fails every later write and flush.
 */
export class WriteBehind {
  #inFlight = 0;
  #failure: unknown;
  #waiting: (() => void) | undefined;
  readonly #files = new Set<Promise<void>>();

  #fail(error: unknown): void {
    this.#failure ??= error;
    this.#wake();
  }

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.();
  }

  check(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Consumes `body` into the file open at `fd`, which it closes once its bytes are written. */
  take(fd: number, body: Readable, signal: AbortSignal | undefined): Promise<void> {
    const writes: Promise<void>[] = [];
    let position = 0;
    const consumed = new Promise<void>((resolve, reject) => {
      const stop = (error: unknown) => {
        body.off('data', onData);
        body.destroy();
        reject(error);
      };
      const onData = (chunk: Buffer) => {
        if (this.#failure !== undefined || signal?.aborted) {
          stop(this.#failure ?? signal!.reason);
          return;
        }
        const length = chunk.length;
        this.#inFlight += length;
        const done = writeAt(fd, chunk, position).then(
          () => {
            this.#inFlight -= length;
            this.#wake();
          },
          (error: unknown) => {
            this.#inFlight -= length;
            this.#fail(error);
          },
        );
        writes.push(done);
        position += length;
        if (this.#inFlight > WRITE_BEHIND) {
          body.pause();
          const resume = () => {
            if (this.#inFlight > WRITE_BEHIND && this.#failure === undefined) this.#waiting = resume;
            else body.resume();
          };
          this.#waiting = resume;
        }
      };
      let ended = false;
      body.on('data', onData);
      body.once('end', () => {
        ended = true;
        resolve();
      });
      body.once('error', stop);
      // Torn down without an end or an error (its archive was): it never will end.
      body.once('close', () => {
        if (!ended) reject(new Error('file body closed before its end'));
      });
    });
    // Closed once its writes have settled, whatever happened: no descriptor is left open.
    const file = consumed
      .catch(() => undefined)
      .then(() => Promise.allSettled(writes))
      .then(() => new Promise<void>((resolve) => close(fd, () => resolve())));
    this.#files.add(file);
    void file.then(() => this.#files.delete(file));
    return consumed;
  }

  async flush(): Promise<void> {
    while (this.#files.size > 0) await Promise.all(this.#files);
    this.check();
  }
}

/**
 * Files are made readable and writable by their owner, directories searchable too, whatever the
 * image says: whoever reads the tree back (a re-pack, the VM) must be able to, and removing it must
 * work. The image's own bits are in the metadata map.
 */
export function diskDirectory(root: string): UnpackDisk {
  const at = (path: string) => root + path;
  const behind = new WriteBehind();
  return {
    mkdir: (path) => mkdirSync(at(path), { mode: 0o755 }),
    remove: (path) => rmSync(at(path), { recursive: true, force: true }),
    async writeFile(path, mode, body, signal) {
      behind.check();
      signal?.throwIfAborted();
      const fd = openSync(at(path), CREATE, 0o600 | (mode & 0o777));
      await behind.take(fd, body, signal);
    },
    flush: () => behind.flush(),
    placeholder: (path) => closeSync(openSync(at(path), CREATE, 0o600)),
    symlink: (path, target) => symlinkSync(target, at(path)),
    link: (path, target) => linkSync(at(target), at(path)),
  };
}

/** No disk at all: bodies are drained (and hashed by the layer stream), nothing is written. */
export function noDisk(): UnpackDisk {
  return {
    mkdir: () => {},
    remove: () => {},
    async writeFile(_path, _mode, body) {
      body.resume();
      await new Promise<void>((resolve, reject) => {
        body.once('end', resolve);
        body.once('error', reject);
      });
    },
    flush: async () => {},
    placeholder: () => {},
    symlink: () => {},
    link: () => {},
  };
}
