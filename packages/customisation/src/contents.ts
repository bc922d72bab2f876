import type { Stats } from 'node:fs';
import { copyFile, lstat, mkdir, readdir, readlink, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { CustomisationError } from './errors.js';

/** A `contents` conflict: two items provide the same path; the first one is kept (lndir -silent). */
export interface ContentsConflict {
  /** The path inside the image, e.g. `/bin/sh`. */
  readonly path: string;
  /** The contents item whose entry was kept. */
  readonly kept: string;
  /** The contents item whose entry was skipped. */
  readonly skipped: string;
}

/** Options for {@link joinContents}. */
export interface JoinContentsOptions {
  /** A chroot store: `/nix/store/x` is read from `<storeRoot>/nix/store/x`. @default '' */
  readonly storeRoot?: string;
  /** The logical store directory. @default '/nix/store' */
  readonly storeDir?: string;
}

interface Walk {
  readonly source: string; // the contents item as the user named it
  readonly logicalBase: string | undefined; // its store path, when it is one
  readonly diskBase: string; // where its bytes are
  readonly target: string; // the directory being filled
  readonly conflicts: ContentsConflict[];
  readonly owners: Map<string, string>; // image path -> contents item that provided it
}

async function kindAt(path: string): Promise<'dir' | 'other' | 'none'> {
  try {
    return (await lstat(path)).isDirectory() ? 'dir' : 'other';
  } catch {
    return 'none';
  }
}

function specialKind(st: Stats): string {
  return st.isFIFO() ? 'a named pipe' : st.isSocket() ? 'a socket' : 'a device node';
}

async function joinTree(walk: Walk, rel: string): Promise<void> {
  const names = (await readdir(join(walk.diskBase, rel))).sort();
  for (const name of names) {
    const relPath = rel ? `${rel}/${name}` : name;
    const from = join(walk.diskBase, relPath);
    const to = join(walk.target, relPath);
    const st = await lstat(from);
    const existing = await kindAt(to);
    if (st.isDirectory() && existing !== 'other') {
      // Directories are real and merged across contents items.
      if (existing === 'none') await mkdir(to, { mode: 0o755 });
      walk.owners.set(`/${relPath}`, walk.owners.get(`/${relPath}`) ?? walk.source);
      await joinTree(walk, relPath);
      continue;
    }
    if (existing !== 'none') {
      walk.conflicts.push({ path: `/${relPath}`, kept: walk.owners.get(`/${relPath}`) ?? '?', skipped: walk.source });
      continue;
    }
    walk.owners.set(`/${relPath}`, walk.source);
    if (st.isSymbolicLink()) {
      await symlink(await readlink(from), to); // copied verbatim, as lndir does
    } else if (walk.logicalBase !== undefined) {
      await symlink(`${walk.logicalBase}/${relPath}`, to); // an absolute link into the store
    } else if (st.isFile()) {
      await copyFile(from, to); // a local directory has no store copy: its files are copied
    } else {
      // Nix would not import these either; copying a FIFO would wait for a writer forever.
      throw new CustomisationError('INVALID_OPTION', `contents: ${from} is ${specialKind(st)}; a local directory in contents may hold only files, directories and symlinks`);
    }
  }
}

/**
 * Follows a contents item that is itself a symlink (a store path can be one) to the directory it
 * names, as lndir does; absolute store targets are looked up in the chroot store.
 */
async function followItem(disk: string, storeRoot: string, storeDir: string): Promise<string> {
  let current = disk;
  for (let hops = 0; hops < 40; hops++) {
    const st = await lstat(current).catch(() => undefined);
    if (!st?.isSymbolicLink()) return current;
    const target = await readlink(current);
    current = target.startsWith('/') ? (target.startsWith(`${storeDir}/`) ? join(storeRoot, target) : target) : resolve(dirname(current), target);
  }
  throw new CustomisationError('INVALID_OPTION', `contents: ${disk} is a chain of more than 40 symlinks`);
}

/**
 * Fills `target` with the merged view of `contents` that nixpkgs' symlinkJoin (lndir) gives the
 * image root: real directories; each file of a store path an absolute symlink into that path;
 * symlinks copied as they are. A local directory (not a store path) is copied in as real files.
 * When two items provide the same path, the first one in `contents` wins; every such conflict is
 * returned so the caller can warn about it.
 */
export async function joinContents(contents: readonly string[], target: string, options: JoinContentsOptions = {}): Promise<ContentsConflict[]> {
  const storeDir = options.storeDir ?? '/nix/store';
  const conflicts: ContentsConflict[] = [];
  const owners = new Map<string, string>();
  await mkdir(target, { recursive: true });
  for (const item of contents) {
    const inStore = item.startsWith(`${storeDir}/`);
    const diskBase = await followItem(inStore ? join(options.storeRoot ?? '', item) : item, options.storeRoot ?? '', storeDir);
    const kind = await kindAt(diskBase);
    if (kind === 'none') throw new CustomisationError('CONTENTS_NOT_FOUND', `contents: ${item} does not exist${inStore && options.storeRoot ? ` in the store root ${options.storeRoot}` : ''}`);
    if (kind !== 'dir') {
      throw new CustomisationError('INVALID_OPTION', `contents: ${item} is not a directory; symlinkJoin merges directories (put the file in a directory)`);
    }
    await joinTree({ source: item, logicalBase: inStore ? item : undefined, diskBase, target, conflicts, owners }, '');
  }
  return conflicts;
}
