import { lstat, realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { ClosureError } from './errors.js';
import { DEFAULT_STORE_DIR, toStorePath, validateStorePath } from './store-path.js';

/** Options for {@link resolveRoots}. */
export interface ResolveRootsOptions {
  /** A chroot store directory (see `discoverClosure`). @default '' */
  readonly storeRoot?: string;
  /** Check that each root exists on disk. @default true */
  readonly mustExist?: boolean;
}

/**
 * Turns what a user names as roots into store paths: a store path stays as it is, a file inside a
 * store path becomes its store path, and a symlink outside the store (like `./result`) is followed
 * into the store. Throws NOT_FOUND, OUTSIDE_STORE or INVALID_NAME naming the root.
 */
export async function resolveRoots(roots: readonly string[], options: ResolveRootsOptions = {}): Promise<string[]> {
  const storeRoot = options.storeRoot ?? '';
  const resolved: string[] = [];
  for (const root of roots) {
    let logical = root.startsWith(`${DEFAULT_STORE_DIR}/`) ? root : undefined;
    if (logical === undefined) {
      logical = await followIntoStore(root, storeRoot);
    }
    const storePath = validateStorePath(toStorePath(logical)!, DEFAULT_STORE_DIR, `root ${root}:`);
    if (options.mustExist !== false) {
      try {
        await lstat(join(storeRoot, storePath));
      } catch {
        const where = storeRoot ? `the store root ${storeRoot}` : 'the store';
        throw new ClosureError('NOT_FOUND', `root ${storePath} does not exist in ${where}`);
      }
    }
    if (!resolved.includes(storePath)) resolved.push(storePath);
  }
  return resolved;
}

async function followIntoStore(root: string, storeRoot: string): Promise<string> {
  let target: string;
  try {
    target = await realpath(root);
  } catch {
    throw new ClosureError('NOT_FOUND', `root ${root} does not exist`);
  }
  // Inside a chroot store a result link may point at DIR/nix/store/...: map it back to /nix/store.
  if (storeRoot) {
    const rel = relative(resolve(storeRoot), target);
    if (!rel.startsWith('..') && !isAbsolute(rel)) target = `/${rel}`;
  }
  if (!target.startsWith(`${DEFAULT_STORE_DIR}/`)) {
    throw new ClosureError('OUTSIDE_STORE', `root ${root} (${target}) is not in the store directory ${DEFAULT_STORE_DIR}`);
  }
  return target;
}
