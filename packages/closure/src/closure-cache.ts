import { createHash } from 'node:crypto';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { indexRecords, selectClosure } from './_graph.js';
import { compareStrings, DEFAULT_STORE_DIR, type StorePath } from './store-path.js';

/**
 * Where {@link discoverClosure} keeps what live Nix answered, so a second build of the same roots
 * need not ask again. Entries are opaque bytes under a hex key; `@strata/cache`'s `ClosureCache`
 * keeps them as files. Both methods may fail: a cache is never worth failing a build for, so a
 * failed `get` is a miss and a failed `put` is ignored.
 */
export interface ClosureCacheStore {
  /** The bytes recorded under `key`, or undefined. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Records `bytes` under `key`. */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** Removes what is recorded under `key` (an entry that no longer checks out). */
  delete?(key: string): Promise<void>;
}

/** Bumped when an entry's meaning changes; part of every key, so old entries are simply never read. */
const FORMAT = 1;

/**
 * The cache key of a live-Nix closure query: the source, the store and the roots, and the
 * environment variables that choose which store Nix asks (the same roots in another store may have
 * other registrations).
 */
export function closureCacheKey(source: string, storeRoot: string, roots: readonly string[], env: NodeJS.ProcessEnv = process.env): string {
  const store = ['NIX_REMOTE', 'NIX_STORE_DIR', 'NIX_STORE', 'NIX_STATE_DIR', 'NIX_CONFIG'].map((name) => env[name] ?? null);
  const input = JSON.stringify([FORMAT, source, storeRoot, store, [...roots].sort(compareStrings)]);
  return createHash('sha256').update(input).digest('hex');
}

/**
 * What identifies one instance of a store path on disk: its device, inode and ctime (to the
 * nanosecond). A path that is deleted and built or substituted again is a new directory (or file)
 * with a new ctime, which nothing can set back, so its registration may have changed; a path that
 * stays has the registration Nix gave it when it was made.
 */
async function stampOf(storeRoot: string, path: string): Promise<string | undefined> {
  try {
    const st = await lstat(join(storeRoot, path), { bigint: true });
    return `${st.dev}:${st.ino}:${st.ctimeNs}`;
  } catch {
    return undefined;
  }
}

/**
 * The state of the Nix database that answers for `storeRoot` (its file and write-ahead log), or
 * undefined when it cannot be seen from here (a remote store, a daemon's store in a place strata
 * does not know). Registering or deleting any path writes it, so the same state before a query and
 * after the stamps means no path changed in between. Reading does not change it.
 */
export async function nixDatabaseState(storeRoot: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (!storeRoot && env.NIX_REMOTE && env.NIX_REMOTE !== 'daemon' && env.NIX_REMOTE !== 'local') return undefined;
  const stateDir = storeRoot ? join(storeRoot, 'nix/var/nix') : (env.NIX_STATE_DIR ?? '/nix/var/nix');
  const states = await Promise.all(
    ['db.sqlite', 'db.sqlite-wal'].map((name) =>
      lstat(join(stateDir, 'db', name), { bigint: true }).then(
        (st) => `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`,
        (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' && name.endsWith('-wal') ? 'none' : undefined),
      ),
    ),
  );
  return states.every((s) => s !== undefined) ? states.join(' ') : undefined;
}

const entrySchema = z.strictObject({
  format: z.literal(FORMAT),
  key: z.string(),
  roots: z.array(z.string()),
  paths: z.array(
    z.strictObject({
      path: z.string(),
      narSize: z.number().int().nonnegative(),
      narHash: z.string().optional(),
      references: z.array(z.string()),
      deriver: z.string().optional(),
      stamp: z.string(),
    }),
  ),
});

/**
 * Serialises a closure with the on-disk stamp of each path, or returns undefined when a path cannot
 * be stamped (it is gone already, or the store is not on this machine): such a closure is not kept.
 */
export async function encodeClosureEntry(key: string, roots: readonly string[], closure: readonly StorePath[], storeRoot: string): Promise<Buffer | undefined> {
  const stamps = await Promise.all(closure.map((p) => stampOf(storeRoot, p.path)));
  if (stamps.some((s) => s === undefined)) return undefined;
  const paths = closure.map((p, i) => ({
    path: p.path,
    narSize: p.narSize,
    ...(p.narHash === undefined ? {} : { narHash: p.narHash }),
    references: p.references,
    ...(p.deriver === undefined ? {} : { deriver: p.deriver }),
    stamp: stamps[i]!,
  }));
  return Buffer.from(JSON.stringify({ format: FORMAT, key, roots: [...roots].sort(compareStrings), paths }));
}

/**
 * The closure an entry holds, or undefined when it does not check out: not the entry of `key` and
 * `roots`, malformed, not a closed graph of valid store paths reaching every root, or any path no
 * longer the instance it was when Nix was asked (see {@link stampOf}). Never throws.
 */
export async function decodeClosureEntry(bytes: Uint8Array, key: string, roots: readonly string[], storeRoot: string): Promise<StorePath[] | undefined> {
  let parsed: z.infer<typeof entrySchema>;
  try {
    const result = entrySchema.safeParse(JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')));
    if (!result.success) return undefined;
    parsed = result.data;
  } catch {
    return undefined;
  }
  const sortedRoots = [...roots].sort(compareStrings);
  if (parsed.key !== key || parsed.roots.length !== sortedRoots.length || parsed.roots.some((r, i) => r !== sortedRoots[i])) return undefined;
  const records: StorePath[] = parsed.paths.map((p) => ({
    path: p.path,
    narSize: p.narSize,
    ...(p.narHash === undefined ? {} : { narHash: p.narHash }),
    references: p.references,
    ...(p.deriver === undefined ? {} : { deriver: p.deriver }),
  }));
  let closure: StorePath[];
  try {
    // The same checks a graph file gets: valid store paths, no path twice, every reference present.
    closure = selectClosure(indexRecords(records, 'closure cache', DEFAULT_STORE_DIR), sortedRoots, 'closure cache');
  } catch {
    return undefined;
  }
  // Exactly the closure of the roots, nothing more: an entry is what the query gave, whole.
  if (closure.length !== records.length) return undefined;
  const stamps = await Promise.all(parsed.paths.map((p) => stampOf(storeRoot, p.path)));
  if (stamps.some((s, i) => s !== parsed.paths[i]!.stamp)) return undefined;
  return closure;
}
