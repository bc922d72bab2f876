import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { entryName, type LayerCacheEntry, type LayerCacheKey, MAX_ENTRY_BYTES, parseEntry, serializeEntry } from './_entry.js';
import { defaultCacheDirectory } from './directory.js';
import { CacheError } from './errors.js';
import { LAYERS_DIRECTORY, type PruneOptions, type PruneResult, pruneLayers } from './prune.js';

/** Options for {@link LayerCache}. */
export interface LayerCacheOptions {
  /** The cache directory (entries go below it, in `layers-1/`). @default defaultCacheDirectory() */
  readonly directory?: string;
}

/**
 * strata's layer cache: for a layer's content (a hash of its inputs, or its diffID) and a way of
 * compressing it, the diffID, digest and size that compressing it gives, so a push can HEAD-check a
 * layer without reading it. One small file per entry: written to a temporary name and renamed
 * (atomic, safe with several strata processes at once), checked when read (an entry that is
 * truncated, edited or filed under another key is a miss, and removed). Reads never throw: a
 * broken, hostile or unreadable entry costs a read of the layer, never a wrong answer from a
 * sound cache.
 * @example
 * const cache = new LayerCache();
 * const key = { layer: 'diffid:sha256:…', compression: 'gzip-6 zlib-1.3.1 x64' };
 * const known = await cache.get(key); // { diffId, digest, size } or undefined
 * await cache.put(key, { diffId, digest, size });
 */
export class LayerCache {
  /** The cache directory. */
  readonly directory: string;

  constructor(options: LayerCacheOptions = {}) {
    this.directory = options.directory ?? defaultCacheDirectory();
  }

  #path(key: LayerCacheKey): { shard: string; file: string } {
    const name = entryName(key);
    const shard = join(this.directory, LAYERS_DIRECTORY, name.slice(0, 2));
    return { shard, file: join(shard, `${name}.json`) };
  }

  /** The entry for `key`, or undefined (no entry, or one that does not check out, which is then removed). Marks a hit as used, for {@link prune}. */
  async get(key: LayerCacheKey): Promise<LayerCacheEntry | undefined> {
    let file: string;
    try {
      ({ file } = this.#path(key));
    } catch {
      return undefined;
    }
    const bytes = await readEntryFile(file);
    if (bytes === 'missing') return undefined;
    const entry = bytes === 'unsound' ? undefined : parseEntry(bytes, key);
    if (!entry) await unlink(file).catch(() => {});
    return entry;
  }

  /** Records `entry` for `key`, replacing any entry there; throws CacheError `WRITE_FAILED` naming the file when it cannot. */
  async put(key: LayerCacheKey, entry: LayerCacheEntry): Promise<void> {
    const bytes = serializeEntry(key, entry);
    const { shard, file } = this.#path(key);
    const temp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
    try {
      await mkdir(shard, { recursive: true, mode: 0o700 });
      await writeFile(temp, bytes, { flag: 'wx', mode: 0o600 });
      await rename(temp, file);
    } catch (error) {
      await rm(temp, { force: true }).catch(() => {});
      throw new CacheError('WRITE_FAILED', `layer cache: cannot write ${file}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Removes the entry for `key`, if any (an entry found to disagree with the bytes it describes). */
  async delete(key: LayerCacheKey): Promise<void> {
    await unlink(this.#path(key).file).catch(() => {});
  }

  /** Removes entries unused for `olderThanMs` (or all of them), and temporary files left by killed processes. */
  prune(options: PruneOptions = {}): Promise<PruneResult> {
    return pruneLayers(this.directory, options);
  }
}

/**
 * The bytes of an entry file: never follows a symlink, never blocks on a FIFO, never reads more than
 * an entry can be. A hit's mtime is set to now, so prune removes what has not been used.
 */
async function readEntryFile(file: string): Promise<Buffer | 'missing' | 'unsound'> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unsound';
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile() || stat.size > MAX_ENTRY_BYTES) return 'unsound';
    const bytes = Buffer.alloc(stat.size);
    const { bytesRead } = await handle.read(bytes, 0, bytes.length, 0);
    const now = new Date();
    await handle.utimes(now, now).catch(() => {});
    return bytes.subarray(0, bytesRead);
  } catch {
    return 'unsound';
  } finally {
    await handle.close().catch(() => {});
  }
}
