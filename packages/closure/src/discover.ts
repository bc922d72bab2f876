import { indexRecords, selectClosure } from './_graph.js';
import { type ClosureCacheStore, closureCacheKey, decodeClosureEntry, encodeClosureEntry, nixDatabaseState } from './closure-cache.js';
import { ClosureError } from './errors.js';
import { readReferencesGraph } from './graph-file.js';
import { type ExecFunction, queryNixStore, queryPathInfo } from './live-nix.js';
import { readRegistration } from './registration.js';
import { resolveRoots } from './roots.js';
import { scanClosure } from './scan.js';
import { DEFAULT_STORE_DIR, type StorePath } from './store-path.js';

/** Where closure information comes from. */
export type ClosureSource = 'nix' | 'nix-store' | 'graph' | 'registration' | 'scan';

/** Options for {@link discoverClosure}. */
export interface DiscoverClosureOptions {
  /**
   * `nix`: `nix path-info --json --recursive`; `nix-store`: `nix-store -qR` plus `--dump-db`;
   * `graph`: a references-graph JSON file (`graphFile`); `registration`: a closureInfo / dump-db
   * file (`registrationFile`); `scan`: no Nix, read and scan the files themselves.
   * @default 'graph' when graphFile is set, 'registration' when registrationFile is set, else 'nix'
   */
  readonly source?: ClosureSource;
  /** The references-graph file for source `graph`. */
  readonly graphFile?: string;
  /** The registration file for source `registration`. */
  readonly registrationFile?: string;
  /**
   * A chroot store: image paths stay `/nix/store/...`, bytes are read from `DIR/nix/store/...`
   * (Nix's `--store local?root=DIR`). @default '' (the real /nix/store)
   */
  readonly storeRoot?: string;
  /** Runs nix / nix-store; injectable for tests. @default child_process.spawn */
  readonly exec?: ExecFunction;
  /** The most bytes of paths one nix / nix-store command line gets (see `queryNixStore`). @default 262144 */
  readonly maxArgBytes?: number;
  /** How many paths `scan` serialises at once. @default 4 */
  readonly concurrency?: number;
  /**
   * Keeps what live Nix (`nix`, `nix-store`) answered, and answers from it while every path of the
   * closure is still the one on disk that Nix was asked about (same device, inode and ctime). Other
   * sources read their files every time. @default none: Nix is asked every time
   */
  readonly cache?: ClosureCacheStore;
  readonly signal?: AbortSignal;
}

function chooseSource(options: DiscoverClosureOptions): ClosureSource {
  if (options.source) return options.source;
  if (options.graphFile) return 'graph';
  if (options.registrationFile) return 'registration';
  return 'nix';
}

async function loadRecords(source: ClosureSource, roots: string[], options: DiscoverClosureOptions): Promise<{ records: StorePath[]; where: string }> {
  const storeRoot = options.storeRoot || undefined;
  const live = {
    ...(storeRoot ? { storeRoot } : {}),
    ...(options.exec ? { exec: options.exec } : {}),
    ...(options.maxArgBytes ? { maxArgBytes: options.maxArgBytes } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  switch (source) {
    case 'nix':
      return { records: await queryPathInfo(roots, live), where: 'nix path-info' };
    case 'nix-store':
      return { records: await queryNixStore(roots, live), where: 'nix-store' };
    case 'scan':
      return { records: await scanClosure(roots, options), where: 'scan' };
    case 'graph':
      if (!options.graphFile) throw new ClosureError('MALFORMED', 'source "graph" needs graphFile');
      return { records: await readReferencesGraph(options.graphFile), where: options.graphFile };
    case 'registration':
      if (!options.registrationFile) throw new ClosureError('MALFORMED', 'source "registration" needs registrationFile');
      return { records: await readRegistration(options.registrationFile), where: options.registrationFile };
    default:
      throw new ClosureError('MALFORMED', `unknown closure source ${JSON.stringify(source)} (expected nix, nix-store, graph, registration or scan)`);
  }
}

/**
 * Discovers the closure of `roots` and yields one {@link StorePath} per path, sorted by path.
 * Every source gives the same paths, references and narSizes for the same roots. For `graph` and
 * `registration`, no roots means the whole file. Roots may be store paths, files inside store
 * paths, or symlinks into the store such as `./result`. A `.drv` root is the derivation file, whose
 * closure is its input derivations and sources (what `nix-store -qR X.drv` prints), not its outputs.
 * @example
 * for await (const p of discoverClosure(['/nix/store/...-hello'], { source: 'scan' })) console.log(p.path, p.narSize);
 */
export async function* discoverClosure(roots: readonly string[], options: DiscoverClosureOptions = {}): AsyncGenerator<StorePath> {
  const source = chooseSource(options);
  const fromFile = source === 'graph' || source === 'registration';
  if (!fromFile && roots.length === 0) throw new ClosureError('NOT_FOUND', `source "${source}" needs at least one root`);
  const resolvedRoots = await resolveRoots(roots, { ...(options.storeRoot ? { storeRoot: options.storeRoot } : {}), mustExist: !fromFile });
  const closure = options.cache && (source === 'nix' || source === 'nix-store') ? await cachedClosure(options.cache, source, resolvedRoots, options) : await queryClosure(source, resolvedRoots, options);
  for (const record of closure) {
    options.signal?.throwIfAborted();
    yield record;
  }
}

async function queryClosure(source: ClosureSource, roots: string[], options: DiscoverClosureOptions): Promise<StorePath[]> {
  const { records, where } = await loadRecords(source, roots, options);
  return selectClosure(indexRecords(records, where, DEFAULT_STORE_DIR), roots, where);
}

/** The closure from the cache when its entry still checks out, else from Nix, recorded for next time. */
async function cachedClosure(cache: ClosureCacheStore, source: ClosureSource, roots: string[], options: DiscoverClosureOptions): Promise<StorePath[]> {
  const storeRoot = options.storeRoot ?? '';
  const key = closureCacheKey(source, storeRoot, roots);
  const bytes = await cache.get(key).catch(() => undefined);
  if (bytes) {
    const closure = await decodeClosureEntry(bytes, key, roots, storeRoot);
    if (closure) return closure;
    await cache.delete?.(key).catch(() => {});
  }
  const before = await nixDatabaseState(storeRoot);
  const closure = await queryClosure(source, roots, options);
  // The paths are stamped after the query. Kept only if the database did not change meanwhile: a
  // path deleted and made again in between would pair the old registration with the new instance.
  if (before !== undefined) {
    const entry = await encodeClosureEntry(key, roots, closure, storeRoot).catch(() => undefined);
    if (entry && (await nixDatabaseState(storeRoot)) === before) await cache.put(key, entry).catch(() => {});
  }
  return closure;
}

/** Collects {@link discoverClosure} into an array. */
export async function collectClosure(roots: readonly string[], options: DiscoverClosureOptions = {}): Promise<StorePath[]> {
  const out: StorePath[] = [];
  for await (const record of discoverClosure(roots, options)) out.push(record);
  return out;
}
