import { ClosureError } from './errors.js';

/**
 * One store path of a closure, with Nix's path-info field names.
 * `references` are full store paths, sorted, and include the path itself when it refers to itself.
 */
export interface StorePath {
  readonly path: string;
  /** Size of the path's NAR serialisation in bytes. */
  readonly narSize: number;
  /** sha256 of the NAR serialisation, SRI form (`sha256-<base64>`), when the source knows it. */
  readonly narHash?: string;
  readonly references: readonly string[];
  /** The derivation that built it, when the source knows it. */
  readonly deriver?: string;
}

/** The logical store directory of every image strata builds. */
export const DEFAULT_STORE_DIR = '/nix/store';

const HASH_PART = /^[0-9a-df-np-sv-z]{32}$/;
const NAME = /^[A-Za-z0-9+\-._?=]+$/;

/** The 32-character hash part of a store path (`/nix/store/<hash>-name` → `<hash>`). */
export function hashPart(path: string, storeDir = DEFAULT_STORE_DIR): string {
  return path.slice(storeDir.length + 1, storeDir.length + 33);
}

/**
 * Checks that `path` is a well-formed store path directly below `storeDir` (not a file inside one)
 * and returns it; throws a ClosureError naming the path otherwise.
 */
export function validateStorePath(path: string, storeDir = DEFAULT_STORE_DIR, where = 'store path'): string {
  if (!path.startsWith(`${storeDir}/`)) {
    throw new ClosureError('OUTSIDE_STORE', `${where} ${path} is not in the store directory ${storeDir}`);
  }
  const base = path.slice(storeDir.length + 1);
  if (base.includes('/')) {
    throw new ClosureError('INVALID_NAME', `${where} ${path} is a file inside a store path, not a store path`);
  }
  const hash = base.slice(0, 32);
  const name = base.slice(33);
  if (!HASH_PART.test(hash) || base[32] !== '-') {
    throw new ClosureError('INVALID_NAME', `${where} ${path} has no valid 32-character Nix base-32 hash part`);
  }
  if (name.length === 0 || name.length > 211 || !NAME.test(name) || name.startsWith('.')) {
    throw new ClosureError(
      'INVALID_NAME',
      `${where} ${path} has an illegal name ${JSON.stringify(name)} (allowed: letters, digits and +-._?=, not starting with a dot, at most 211 characters)`,
    );
  }
  return path;
}

/** The store path that contains `path` (`/nix/store/h-x/bin/y` → `/nix/store/h-x`), or undefined. */
export function toStorePath(path: string, storeDir = DEFAULT_STORE_DIR): string | undefined {
  if (!path.startsWith(`${storeDir}/`)) return undefined;
  const rest = path.slice(storeDir.length + 1);
  const slash = rest.indexOf('/');
  return `${storeDir}/${slash === -1 ? rest : rest.slice(0, slash)}`;
}

/** Compares strings by UTF-16 code units, the order every strata listing uses. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
