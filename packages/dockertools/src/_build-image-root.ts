import type { Stats } from 'node:fs';
import { constants } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, readdir, readlink, realpath, rm, stat, symlink, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { ClosureError, resolveRoots } from '@strata/closure';
import { DockerToolsError } from './errors.js';

/** A copyToRoot item: a store path (links such as ./result followed) or a local directory. */
export interface RootItem {
  /** As the user named it, for messages. */
  readonly given: string;
  /** The store path, when the item is in the store. */
  readonly storePath?: string;
  /** Where its files are on this machine (a chroot store's copy for a store path). */
  readonly disk: string;
}

/** The file a root file was copied from, and the copy as it was right after copying. */
export interface CopiedFile {
  /** Identity (`dev:ino`) of the file the bytes came from (a store file, usually). */
  readonly sourceId: string;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}

/** The image root as copyToRoot makes it, ready for extraCommands and packing. */
export interface RootTree {
  readonly dir: string;
  /**
   * Modes of the directories as rsync would leave them, by image path (`/`, `/bin`): on disk they
   * are kept writable for their owner so scripts and cleanup work, the layer records these.
   */
  readonly dirModes: ReadonlyMap<string, number>;
  /** Root files copied from an item, by image path: lets a file both at / and in the store be stored once. */
  readonly copies: ReadonlyMap<string, CopiedFile>;
}

/** Options for {@link copyToRoot}. */
export interface CopyToRootOptions {
  /** rsync -K (keep symlinks to directories) instead of -k (copy what they point at). */
  readonly keepContentsDirlinks: boolean;
  /** A chroot store: `/nix/store/x` is read from `storeRoot/nix/store/x`. */
  readonly storeRoot?: string;
  /** Stops copying between entries. @default none */
  readonly signal?: AbortSignal;
}

const STORE = '/nix/store/';
const MAX_LINKS = 40;

/** Resolves copyToRoot items: store paths (links such as ./result followed into the store) or local directories. */
export async function resolveRootItems(items: readonly string[], storeRoot: string | undefined, key: string): Promise<RootItem[]> {
  const out: RootItem[] = [];
  for (const given of items) {
    try {
      const [storePath] = await resolveRoots([given], storeRoot ? { storeRoot } : {});
      out.push({ given, storePath: storePath!, disk: await followDirectory(join(storeRoot ?? '', storePath!), storeRoot ?? '', given, key) });
    } catch (error) {
      if (!(error instanceof ClosureError)) throw error;
      // A local directory (nixpkgs' build-image-with-path copies ./test-dummy) is copied as it is.
      const local = error.code === 'OUTSIDE_STORE' || (error.code === 'NOT_FOUND' && !given.startsWith(STORE));
      if (!local) throw new DockerToolsError('INVALID_OPTION', `${key}: ${error.message}`, { cause: error });
      out.push({ given, disk: await followDirectory(resolve(given), storeRoot ?? '', given, key) });
    }
  }
  return out;
}

/** `rsync item/ layer/` reads the directory the item names: a store path that is a link is followed. */
async function followDirectory(disk: string, storeRoot: string, given: string, key: string): Promise<string> {
  const target = await linkTarget(disk, storeRoot, true);
  const st = target === undefined ? undefined : await stat(target).catch(() => undefined);
  if (!st) throw new DockerToolsError('INVALID_OPTION', `${key}: ${given} does not exist`);
  if (!st.isDirectory()) throw new DockerToolsError('INVALID_OPTION', `${key}: ${given} is not a directory; its contents are copied to / (put the file in a directory)`);
  return target!;
}

/**
 * Follows symlinks from `disk` the way the image sees them: store targets are read from the chroot
 * store; absolute targets outside the store are not followed (they name the build machine, not the
 * image) unless `host` is set. Returns the final disk path, or undefined when it cannot be followed.
 */
async function linkTarget(disk: string, storeRoot: string, host = false): Promise<string | undefined> {
  let path = disk;
  for (let hops = 0; hops <= MAX_LINKS; hops++) {
    const st = await lstat(path).catch(() => undefined);
    if (!st) return undefined;
    if (!st.isSymbolicLink()) return path;
    const target = await readlink(path);
    if (!isAbsolute(target)) path = resolve(dirname(path), target);
    else if (target.startsWith(STORE)) path = join(storeRoot, target);
    else if (host) path = target;
    else return undefined;
  }
  return undefined;
}

interface Copy {
  readonly item: RootItem;
  readonly root: string;
  readonly options: CopyToRootOptions;
  readonly dirModes: Map<string, number>;
  readonly copies: Map<string, CopiedFile>;
  /** Real paths of the source directories being walked, to refuse a link to an ancestor (-k would loop). */
  readonly walking: string[];
}

function kindOf(st: Stats | undefined): 'none' | 'dir' | 'link' | 'other' {
  if (!st) return 'none';
  return st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : 'other';
}

/**
 * Copies the items' contents to `dir` as nixpkgs' `rsync -a{k|K} --chown=0:0 item/ layer/` does,
 * item after item (a later item's file replaces an earlier one's; directories merge and take the
 * later item's mode): files are copied (so a file is both at / and in the store, nixpkgs #94636,
 * which the layer then stores once), symlinks to files are kept, and symlinks to directories become
 * copies of those directories (-k) or stay links (-K, keepContentsDirlinks).
 */
export async function copyToRoot(items: readonly RootItem[], dir: string, options: CopyToRootOptions): Promise<RootTree> {
  const dirModes = new Map<string, number>();
  const copies = new Map<string, CopiedFile>();
  await mkdir(dir, { mode: 0o755 });
  const root = await realpath(dir); // links inside the root are resolved against its real path
  let rootMode = 0o755;
  for (const item of items) {
    const st = await stat(item.disk);
    rootMode = st.mode & 0o7777;
    await copyTree({ item, root, options, dirModes, copies, walking: [await realpath(item.disk)] }, item.disk, '');
  }
  // nixpkgs: `chmod ug+w layer` after rsync gave the layer directory the (last) item's mode.
  dirModes.set('/', items.length > 0 ? rootMode | 0o220 : 0o755);
  await chmod(root, dirModes.get('/')! | 0o700);
  return { dir, dirModes, copies };
}

async function copyTree(copy: Copy, from: string, rel: string): Promise<void> {
  for (const name of (await readdir(from)).sort()) {
    copy.options.signal?.throwIfAborted();
    const source = join(from, name);
    const relPath = `${rel}/${name}`;
    const st = await lstat(source);
    if (st.isSymbolicLink() && !copy.options.keepContentsDirlinks) {
      // rsync -k: a link to a directory is sent as that directory.
      const target = await linkTarget(source, copy.options.storeRoot ?? '');
      const targetStat = target === undefined ? undefined : await stat(target).catch(() => undefined);
      if (targetStat?.isDirectory()) {
        await copyDirectory(copy, await realpath(target!), relPath, targetStat);
        continue;
      }
    }
    if (st.isDirectory()) await copyDirectory(copy, source, relPath, st);
    else if (st.isSymbolicLink()) await placeEntry(copy, relPath, (to) => readlink(source).then((t) => symlink(t, to)));
    else if (st.isFile()) await copyFileEntry(copy, source, relPath, st);
    else {
      const kind = st.isFIFO() ? 'a named pipe' : st.isSocket() ? 'a socket' : 'a device node';
      throw new DockerToolsError('INVALID_OPTION', `copyToRoot: ${source} is ${kind}; an item may hold only files, directories and symlinks`);
    }
  }
}

async function copyDirectory(copy: Copy, source: string, relPath: string, st: Stats): Promise<void> {
  const real = await realpath(source);
  if (copy.walking.includes(real)) {
    throw new DockerToolsError('INVALID_OPTION', `copyToRoot: ${copy.item.given}${relPath} links to a directory that contains it; set keepContentsDirlinks to keep such links`);
  }
  const at = await directoryTarget(copy, relPath);
  copy.dirModes.set(at, st.mode & 0o7777);
  copy.walking.push(real);
  try {
    await copyTree(copy, source, at);
  } finally {
    copy.walking.pop();
  }
  await chmod(copy.root + at, (st.mode & 0o7777) | 0o700);
}

/**
 * The image path of the directory to fill for `relPath`: made, merged into, or (with -K) the
 * directory an earlier item's link there leads to, as rsync -K writes through such a link.
 */
async function directoryTarget(copy: Copy, relPath: string): Promise<string> {
  const to = copy.root + relPath;
  const existing = await lstat(to).catch(() => undefined);
  const kind = kindOf(existing);
  if (kind === 'dir') return relPath;
  if (kind === 'link' && copy.options.keepContentsDirlinks) {
    const inside = await linkInsideRoot(copy.root, to);
    if (inside) return `/${relative(copy.root, inside)}`;
    throw new DockerToolsError(
      'INVALID_OPTION',
      `copyToRoot: ${relPath} is a link to a directory outside the image root (${await readlink(to)}) and ${copy.item.given} has a directory there; with keepContentsDirlinks rsync would write through the link`,
    );
  }
  if (kind !== 'none') await unlink(to);
  copy.copies.delete(relPath);
  await mkdir(to, { mode: 0o700 });
  return relPath;
}

/** Where a link inside the (real) root leads, resolved as the image sees it, if it is a directory inside the root. */
async function linkInsideRoot(root: string, link: string): Promise<string | undefined> {
  let path = link;
  for (let hops = 0; hops <= MAX_LINKS; hops++) {
    const st = await lstat(path).catch(() => undefined);
    if (!st) return undefined;
    if (st.isDirectory()) {
      // Checked on the real path: a link met on the way may lead anywhere.
      const real = await realpath(path);
      return real.startsWith(`${root}/`) ? real : undefined;
    }
    if (!st.isSymbolicLink()) return undefined;
    const target = await readlink(path);
    path = isAbsolute(target) ? join(root, target) : resolve(dirname(path), target);
    if (relative(root, path).startsWith('..')) return undefined;
  }
  return undefined;
}

/** Puts a non-directory at `relPath`, replacing a non-directory an earlier item left (rsync does). */
async function placeEntry(copy: Copy, relPath: string, make: (to: string) => Promise<void>): Promise<void> {
  const to = copy.root + relPath;
  const existing = await lstat(to).catch(() => undefined);
  if (existing?.isDirectory()) {
    throw new DockerToolsError('INVALID_OPTION', `copyToRoot: ${relPath} is a directory in an earlier item and not one in ${copy.item.given}; rsync cannot replace it`);
  }
  if (existing) await unlink(to);
  copy.copies.delete(relPath);
  await make(to);
}

async function copyFileEntry(copy: Copy, source: string, relPath: string, st: Stats): Promise<void> {
  const to = copy.root + relPath;
  // A reflink where the filesystem can, else a copy: scripts may change the copy, never the store.
  await placeEntry(copy, relPath, (dest) => copyFile(source, dest, constants.COPYFILE_FICLONE));
  const after = await lstat(to);
  copy.copies.set(relPath, { sourceId: `${st.dev}:${st.ino}`, ino: after.ino, size: after.size, mtimeMs: after.mtimeMs, ctimeMs: after.ctimeMs });
}

/** Removes a tree whose directories a script may have made read-only. */
export async function removeTree(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true });
  } catch {
    await makeWritable(dir);
    await rm(dir, { recursive: true, force: true });
  }
}

async function makeWritable(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st?.isDirectory()) return;
  await chmod(path, (st.mode & 0o7777) | 0o700).catch(() => {});
  for (const name of await readdir(path).catch(() => [])) await makeWritable(join(path, name));
}
