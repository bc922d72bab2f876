import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { ClosureError } from './errors.js';
import { readDerivationFile } from './_derivation-file.js';
import { DEFAULT_MAX_DERIVATION_BYTES, isDerivationPath, parseDerivation } from './derivation.js';
import { dumpNarInfo, narInfoOfTree, scanTreeNar } from './nar.js';
import { compareStrings, DEFAULT_STORE_DIR, hashPart, type StorePath } from './store-path.js';

/** Options for {@link scanClosure}. */
export interface ScanOptions {
  /** A chroot store: `/nix/store/x` is read from `<storeRoot>/nix/store/x`. @default '' (the real /nix/store) */
  readonly storeRoot?: string;
  /** How many store paths are serialised at once. @default 4 */
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
}

const STORE_ENTRY = /^[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+$/;

/** Hash part → store path, for every store path in the store directory. */
async function candidatePaths(storeDisk: string): Promise<Map<string, string>> {
  let names: string[];
  try {
    names = await readdir(storeDisk);
  } catch (error) {
    throw new ClosureError('NOT_FOUND', `cannot list the store directory ${storeDisk}: ${(error as Error).message}`, { cause: error });
  }
  const byHash = new Map<string, string>();
  for (const name of names) {
    if (!STORE_ENTRY.test(name)) continue;
    // Nix keeps files beside a path that share its hash part (`X.lock` while building or
    // substituting X, `X.check` for --check builds): the store path is the shortest of the names.
    const hash = name.slice(0, 32);
    const path = `${DEFAULT_STORE_DIR}/${name}`;
    const other = byHash.get(hash);
    if (other === undefined || path.length < other.length) byHash.set(hash, path);
  }
  return byHash;
}

/**
 * The hash parts to look for in file contents: every path but derivations. A .drv is never a
 * runtime reference of a built path (Nix only looks for the build's inputs); a derivation's own
 * references are read from the derivation, not scanned.
 */
function scannedHashes(candidates: ReadonlyMap<string, string>): Set<string> {
  return new Set([...candidates].filter(([, path]) => !isDerivationPath(path)).map(([hash]) => hash));
}

/**
 * A derivation's record: what Nix registers for a .drv, its input derivations and input sources as
 * references. Its text also names its outputs, which are not references (Nix never holds them for a
 * derivation), so it is parsed, not scanned.
 */
async function scanDerivation(path: string, storeRoot: string): Promise<StorePath> {
  const { bytes, executable } = await readDerivationFile(path, storeRoot || undefined, DEFAULT_MAX_DERIVATION_BYTES);
  const drv = parseDerivation(bytes, path);
  const references = [...new Set([...Object.keys(drv.inputDrvs), ...drv.inputSrcs])].sort(compareStrings);
  return { path, ...narInfoOfTree({ type: 'regular', contents: bytes, executable }), references };
}

/** Serialises one store path and maps the hashes found in it to store paths. */
async function scanPath(
  path: string,
  storeRoot: string,
  candidates: ReadonlyMap<string, string>,
  candidateHashes: ReadonlySet<string>,
  signal: AbortSignal,
  referrer: string | undefined,
): Promise<StorePath> {
  signal.throwIfAborted();
  if (candidates.get(hashPart(path)) !== path) {
    // Only a derivation can name a missing path (scanned references are found among existing ones).
    const named = referrer ? ` (an input of ${referrer})` : '';
    throw new ClosureError('NOT_FOUND', `${path}${named} does not exist in the store ${join(storeRoot, DEFAULT_STORE_DIR)}`);
  }
  if (isDerivationPath(path)) return scanDerivation(path, storeRoot);
  const nar = await dumpNarInfo(join(storeRoot, path), candidateHashes, signal);
  const references = [...nar.foundHashes].map((h) => candidates.get(h)!).sort(compareStrings);
  return { path, narSize: nar.narSize, narHash: nar.narHash, references };
}

/**
 * Finds the closure of `roots` with no Nix at all: serialises each path as a NAR (for narSize and
 * narHash) and scans it for the hash parts of the paths in the store directory, as Nix's reference
 * scanner does, following what it finds. Records come back sorted by path.
 */
export async function scanClosure(roots: readonly string[], options: ScanOptions = {}): Promise<StorePath[]> {
  const storeRoot = options.storeRoot ?? '';
  const candidates = await candidatePaths(join(storeRoot, DEFAULT_STORE_DIR));
  const candidateHashes = scannedHashes(candidates);
  const limit = pLimit(options.concurrency ?? 4);
  // When one path fails, the paths being read and those queued stop too instead of running on unseen.
  const failed = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, failed.signal]) : failed.signal;
  const records = new Map<string, StorePath>();
  let frontier = [...new Set(roots)];
  const seen = new Set(frontier);
  const referrers = new Map<string, string>();
  while (frontier.length > 0) {
    const scanned = await Promise.all(
      frontier.map((path) =>
        limit(() => scanPath(path, storeRoot, candidates, candidateHashes, signal, referrers.get(path))),
      ),
    ).catch((error: unknown) => {
      failed.abort(error);
      throw error;
    });
    frontier = [];
    for (const record of scanned) {
      records.set(record.path, record);
      for (const ref of record.references) {
        if (!seen.has(ref)) {
          seen.add(ref);
          referrers.set(ref, record.path);
          frontier.push(ref);
        }
      }
    }
  }
  return [...records.values()].sort((a, b) => compareStrings(a.path, b.path));
}

/**
 * The store paths that any file tree refers to (file contents, names and symlink targets), found the
 * way Nix's scanner finds references: e.g. what a customisation layer's symlinks and scripts point at.
 * `storeRoot` says which store's paths are candidates. Sorted.
 */
export async function findStoreReferences(tree: string, options: Pick<ScanOptions, 'storeRoot' | 'signal'> = {}): Promise<string[]> {
  return (await scanTree(tree, options)).references;
}

/** What {@link scanTree} found: the store paths a tree refers to, and its NAR serialisation's size and hash. */
export interface TreeScan {
  /** Store paths the tree refers to, sorted. */
  readonly references: string[];
  /** The tree's NAR hash (SRI, `sha256-…`): it changes with any file's content, name, type, link target or executable bit. */
  readonly narHash: string;
  readonly narSize: number;
}

/**
 * Reads a file tree once as a NAR: the store paths it refers to (as {@link findStoreReferences})
 * and its NAR hash, which identifies its content. FIFOs, sockets and devices count as empty files.
 */
export async function scanTree(tree: string, options: Pick<ScanOptions, 'storeRoot' | 'signal'> = {}): Promise<TreeScan> {
  const candidates = await candidatePaths(join(options.storeRoot ?? '', DEFAULT_STORE_DIR));
  // A customisation layer may hold FIFOs made by fakeRootCommands: they have names but no contents.
  const nar = await scanTreeNar(tree, scannedHashes(candidates), options.signal);
  return { references: [...nar.foundHashes].map((h) => candidates.get(h)!).sort(compareStrings), narHash: nar.narHash, narSize: nar.narSize };
}
