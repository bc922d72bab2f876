import { createHash } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { readEntryFile, writeEntryFile } from './_file.js';
import { defaultCacheDirectory } from './directory.js';
import { CLOSURES_DIRECTORY, type PruneOptions, type PruneResult, pruneCache } from './prune.js';

/** Options for {@link ClosureCache}. */
export interface ClosureCacheOptions {
  /** The cache directory (entries go below it, in `closures-1/`). @default defaultCacheDirectory() */
  readonly directory?: string;
  /** Larger entries are neither written nor read. @default 64 MiB (a closure of tens of thousands of paths) */
  readonly maxEntryBytes?: number;
}

const KEY = /^[0-9a-f]{64}$/;
const HEADER = 'strata-closure-cache-1';

/**
 * The store for `@strata/closure`'s closure cache (its `ClosureCacheStore`): opaque entries under
 * hex keys, one file each, written atomically. Each file carries a sha256 of its key and bytes, so a
 * truncated, bit-flipped or hand-edited file, or one copied under another key's name, is a miss
 * (and removed). What an entry means, and whether it still holds, is `@strata/closure`'s to check.
 * Reads never throw; a write that fails throws CacheError `WRITE_FAILED`.
 * @example
 * const closure = await collectClosure(['/nix/store/…-hello'], { cache: new ClosureCache() });
 */
export class ClosureCache {
  /** The cache directory. */
  readonly directory: string;
  readonly #maxBytes: number;

  constructor(options: ClosureCacheOptions = {}) {
    this.directory = options.directory ?? defaultCacheDirectory();
    this.#maxBytes = options.maxEntryBytes ?? 64 << 20;
  }

  #file(key: string): string | undefined {
    return KEY.test(key) ? join(this.directory, CLOSURES_DIRECTORY, key.slice(0, 2), `${key}.json`) : undefined;
  }

  /** The bytes recorded under `key`, or undefined (none, or a file that does not check out, which is then removed). Marks a hit as used, for {@link prune}. */
  async get(key: string): Promise<Uint8Array | undefined> {
    const file = this.#file(key);
    if (file === undefined) return undefined;
    const bytes = await readEntryFile(file, this.#maxBytes + 256);
    if (bytes === 'missing') return undefined;
    const body = bytes === 'unsound' ? undefined : unwrap(key, bytes);
    if (!body) await unlink(file).catch(() => {});
    return body;
  }

  /** Records `bytes` under `key`, replacing what was there. An entry over the size limit is not kept. */
  async put(key: string, bytes: Uint8Array): Promise<void> {
    const file = this.#file(key);
    if (file === undefined || bytes.byteLength > this.#maxBytes) return;
    await writeEntryFile(file, Buffer.concat([Buffer.from(`${HEADER} ${seal(key, bytes)}\n`), bytes]), 'closure cache');
  }

  /** Removes what is recorded under `key`, if anything. */
  async delete(key: string): Promise<void> {
    const file = this.#file(key);
    if (file !== undefined) await unlink(file).catch(() => {});
  }

  /** Removes entries unused for `olderThanMs` (or all of them), layer and closure entries alike, and temporary files left by killed processes. */
  prune(options: PruneOptions = {}): Promise<PruneResult> {
    return pruneCache(this.directory, options);
  }
}

function seal(key: string, bytes: Uint8Array): string {
  return createHash('sha256').update(`${key}\n`).update(bytes).digest('hex');
}

function unwrap(key: string, file: Buffer): Buffer | undefined {
  const newline = file.indexOf(10);
  if (newline < 0 || newline > 200) return undefined;
  const [header, sum] = file.subarray(0, newline).toString('latin1').split(' ');
  const body = file.subarray(newline + 1);
  return header === HEADER && sum === seal(key, body) ? body : undefined;
}
