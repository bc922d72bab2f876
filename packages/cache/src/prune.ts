import { lstat, readdir, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CacheError } from './errors.js';

/** The directory below the cache directory holding layer entries of the current format. */
export const LAYERS_DIRECTORY = 'layers-1';
/** The directory below the cache directory holding closure entries of the current format. */
export const CLOSURES_DIRECTORY = 'closures-1';
const CURRENT = new Set([LAYERS_DIRECTORY, CLOSURES_DIRECTORY]);

/** Options for {@link LayerCache.prune}. */
export interface PruneOptions {
  /** Remove entries not used (read or written) for this many milliseconds. @default 30 days */
  readonly olderThanMs?: number;
  /** Remove every entry, whatever its age. @default false */
  readonly all?: boolean;
  /** The current time, milliseconds since the epoch (tests). @default Date.now() */
  readonly now?: number;
}

/** What {@link LayerCache.prune} did. */
export interface PruneResult {
  /** Entries (and leftover temporary files) removed. */
  readonly removed: number;
  /** Entries kept. */
  readonly kept: number;
  /** Bytes of the files removed. */
  readonly bytes: number;
}

const THIRTY_DAYS = 30 * 24 * 3600 * 1000;
/** A temporary file this old belongs to a process that died; a live writer renames within milliseconds. */
const STALE_TEMP_MS = 3600 * 1000;
const ENTRY = /^[0-9a-f]{64}\.json$/;
const TEMP = /^[0-9a-f]{64}\.json\.\d+-[0-9a-f]{8}\.tmp$/;
const FORMAT_DIR = /^(?:layers|closures)-\d+$/;
const SHARD = /^[0-9a-f]{2}$/;

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw new CacheError('UNREADABLE', `cache: cannot read ${dir}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Removes cache entries by age (their mtime is their last use), in every format directory
 * (`layers-N`, `closures-N`), touching only files whose names strata gives them: a cache directory pointed at the
 * wrong place loses nothing else. Empty shard directories are removed too.
 */
export async function pruneCache(directory: string, options: PruneOptions = {}): Promise<PruneResult> {
  const olderThan = options.olderThanMs ?? THIRTY_DAYS;
  if (!Number.isFinite(olderThan) || olderThan < 0) throw new CacheError('INVALID_OPTION', `cache: olderThanMs must be a duration >= 0, got ${olderThan}`);
  const now = options.now ?? Date.now();
  let removed = 0;
  let kept = 0;
  let bytes = 0;
  for (const format of (await entries(directory)).filter((n) => FORMAT_DIR.test(n))) {
    const current = CURRENT.has(format);
    for (const shard of (await entries(join(directory, format))).filter((n) => SHARD.test(n))) {
      const shardDir = join(directory, format, shard);
      for (const name of await entries(shardDir)) {
        const isEntry = ENTRY.test(name);
        if (!isEntry && !TEMP.test(name)) continue;
        const file = join(shardDir, name);
        const stat = await lstat(file).catch(() => undefined);
        if (!stat || stat.isDirectory()) continue;
        const age = now - stat.mtimeMs;
        // Entries of an older format are never read again.
        const drop = options.all === true || !current || (isEntry ? age > olderThan : age > STALE_TEMP_MS);
        if (!drop) {
          if (isEntry) kept++;
          continue;
        }
        try {
          await unlink(file);
          removed++;
          bytes += stat.size;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new CacheError('WRITE_FAILED', `cache: cannot remove ${file}: ${(error as Error).message}`, { cause: error });
        }
      }
      await rmdir(shardDir).catch(() => {}); // only when empty
    }
    if (!current) await rmdir(join(directory, format)).catch(() => {});
  }
  return { removed, kept, bytes };
}
