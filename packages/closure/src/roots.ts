import { lstat, readlink, realpath } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
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

// Like the kernel's limit on symlinks followed while resolving one path.
const MAX_LINKS = 40;

/**
 * Follows `root` one symlink at a time until it names something in the store, as Nix does for
 * `./result`: a store path that is itself a symlink (to another store path) stays the root, and a
 * link to a logical `/nix/store/...` path that exists only in a chroot store is accepted. A path that
 * reaches the store only through a linked directory (`./result/bin/x`) is resolved with realpath.
 */
async function followIntoStore(root: string, storeRoot: string): Promise<string> {
  const chrootStore = storeRoot ? join(resolve(storeRoot), DEFAULT_STORE_DIR) : undefined;
  let path = resolve(root);
  for (let links = 0; links <= MAX_LINKS; links++) {
    const logical = logicalStorePath(path, chrootStore);
    if (logical !== undefined) return logical;
    const target = await readlink(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EINVAL') return undefined; // exists, but not a symlink
      throw new ClosureError('NOT_FOUND', `root ${root} does not exist (${path}: ${error.code})`, { cause: error });
    });
    if (target === undefined) return throughLinkedDirectories(root, chrootStore);
    path = resolve(dirname(path), target);
  }
  throw new ClosureError('NOT_FOUND', `root ${root}: more than ${MAX_LINKS} symlinks to follow`);
}

async function throughLinkedDirectories(root: string, chrootStore: string | undefined): Promise<string> {
  let target: string;
  try {
    target = await realpath(root);
  } catch {
    throw new ClosureError('NOT_FOUND', `root ${root} does not exist`);
  }
  const logical = logicalStorePath(target, chrootStore);
  if (logical === undefined) {
    throw new ClosureError('OUTSIDE_STORE', `root ${root} (${target}) is not in the store directory ${DEFAULT_STORE_DIR}`);
  }
  return logical;
}

/** `path` as a `/nix/store/...` path when it lies in the store (or in the chroot store), else undefined. */
function logicalStorePath(path: string, chrootStore: string | undefined): string | undefined {
  if (path.startsWith(`${DEFAULT_STORE_DIR}/`)) return path;
  if (chrootStore && path.startsWith(`${chrootStore}/`)) return `${DEFAULT_STORE_DIR}/${path.slice(chrootStore.length + 1)}`;
  return undefined;
}
