import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { entryName, type LayerCacheEntry, type LayerCacheKey, MAX_ENTRY_BYTES, parseEntry, serializeEntry } from './_entry.js';
import { readEntryFile, writeEntryFile } from './_file.js';
import { defaultCacheDirectory } from './directory.js';
import { LAYERS_DIRECTORY, type PruneOptions, type PruneResult, pruneCache } from './prune.js';

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

  #path(key: LayerCacheKey): { file: string } {
    const name = entryName(key);
    return { file: join(this.directory, LAYERS_DIRECTORY, name.slice(0, 2), `${name}.json`) };
  }

  /** The entry for `key`, or undefined (no entry, or one that does not check out, which is then removed). Marks a hit as used, for {@link prune}. */
  async get(key: LayerCacheKey): Promise<LayerCacheEntry | undefined> {
    let file: string;
    try {
      ({ file } = this.#path(key));
    } catch {
      return undefined;
    }
    const bytes = await readEntryFile(file, MAX_ENTRY_BYTES);
    if (bytes === 'missing') return undefined;
    const entry = bytes === 'unsound' ? undefined : parseEntry(bytes, key);
    if (!entry) await unlink(file).catch(() => {});
    return entry;
  }

  /** Records `entry` for `key`, replacing any entry there; throws CacheError `WRITE_FAILED` naming the file when it cannot. */
  async put(key: LayerCacheKey, entry: LayerCacheEntry): Promise<void> {
    await writeEntryFile(this.#path(key).file, serializeEntry(key, entry), 'layer cache');
  }

  /** Removes the entry for `key`, if any (an entry found to disagree with the bytes it describes). */
  async delete(key: LayerCacheKey): Promise<void> {
    await unlink(this.#path(key).file).catch(() => {});
  }

  /** Removes entries unused for `olderThanMs` (or all of them), layer and closure entries alike, and temporary files left by killed processes. */
  prune(options: PruneOptions = {}): Promise<PruneResult> {
    return pruneCache(this.directory, options);
  }
}
