import { execFile } from 'node:child_process';
import { constants, type BigIntStats } from 'node:fs';
import { copyFile, lstat, mkdir, readdir, readFile, readlink, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import { makeDevice } from './device.js';
import { VmMissingComponentError, VmOptionError } from './errors.js';
import { type PathOwnership, presentedMode } from './ownership.js';

// QEMU's 9p `security_model=mapped-xattr` keeps what the guest sets (owner, mode with the type bits,
// device numbers) in these xattrs on the host file; symlinks and device nodes made in the guest are
// plain host files (a symlink's content is its target). A working copy is written in that same form
// so the guest sees real symlinks and root-owned files.
const XATTR = { uid: 'user.virtfs.uid', gid: 'user.virtfs.gid', mode: 'user.virtfs.mode', rdev: 'user.virtfs.rdev' };

/** The type of a path in the root, as the guest sees it. */
export type EntryType = 'file' | 'directory' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';

/** A path of the root as the guest sees it. */
export interface TreeEntry {
  readonly type: EntryType;
  /** Permission bits, including setuid/setgid/sticky. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Device number for char/block devices (Linux encoding). */
  readonly rdev?: bigint;
  /** Symlink target. */
  readonly target?: string;
  /** Size of the host file (a regular file's content length). */
  readonly size: bigint;
}

const TYPE_BITS: Record<EntryType, number> = {
  file: 0o100000,
  directory: 0o040000,
  symlink: 0o120000,
  char: 0o020000,
  block: 0o060000,
  fifo: 0o010000,
  socket: 0o140000,
};

const execFileAsync = promisify(execFile);
const COPY_CONCURRENCY = 16;

/** The entry type of a mode with file-type bits. */
export function typeOfMode(mode: number): EntryType {
  const bits = mode & 0o170000;
  const found = (Object.keys(TYPE_BITS) as EntryType[]).find((t) => TYPE_BITS[t] === bits);
  return found ?? 'file';
}

/** Options for {@link copyToMappedForm}. */
export interface CopyOptions {
  /** Keep the source's owners instead of presenting every path as root-owned. @default false */
  readonly preserveOwnership?: boolean;
  /** Owners, modes and node types that override the host's, checked by {@link checkOwnership}. @default none */
  readonly ownership?: ReadonlyMap<string, PathOwnership>;
  /** Stops the copy between files. */
  readonly signal?: AbortSignal;
}

/**
 * Copies `source` into the new directory `dest` in mapped-xattr form and sets the xattrs in one
 * `setfattr --restore` pass (the dump is written to `dumpFile`, outside `dest`). Returns every path
 * as the guest will see it, keyed by image path (`/` for the root itself).
 */
export async function copyToMappedForm(source: string, dest: string, dumpFile: string, options: CopyOptions = {}): Promise<Map<string, TreeEntry>> {
  const ownership = options.ownership ?? new Map<string, PathOwnership>();
  const tree = new Map<string, TreeEntry>();
  const dump: string[] = [];
  const record = (image: string, to: string, host: { mode: number; uid: number; gid: number; rdev: bigint; target?: string; size: bigint }) => {
    const entry = ownership.get(image);
    const mode = presentedMode(image, host.mode, entry);
    const type = typeOfMode(mode);
    const uid = entry?.uid ?? (options.preserveOwnership ? host.uid : 0);
    const gid = entry?.gid ?? (options.preserveOwnership ? host.gid : 0);
    const device = entry?.device;
    const rdev = type === 'char' || type === 'block' ? (device ? makeDevice(device.major, device.minor) : host.rdev) : undefined;
    const size = type === 'file' ? host.size : 0n;
    tree.set(image, { type, mode: mode & 0o7777, uid, gid, size, ...(rdev !== undefined ? { rdev } : {}), ...(host.target !== undefined ? { target: host.target } : {}) });
    dump.push(dumpRecord(to, uid, gid, mode, rdev));
    return type;
  };
  const visit = async (rel: string): Promise<void> => {
    options.signal?.throwIfAborted();
    const from = join(source, rel);
    const to = join(dest, rel);
    const image = `/${rel}`;
    // The root itself may be given as a symlink to a directory; everything below is copied as is.
    const s = rel === '' ? await stat(from, { bigint: true }) : await lstat(from, { bigint: true });
    const target = s.isSymbolicLink() ? await readlink(from) : undefined;
    const type = record(image, to, { mode: Number(s.mode), uid: Number(s.uid), gid: Number(s.gid), rdev: s.rdev, target, size: s.size });
    if (type === 'directory') await mkdir(to, { mode: 0o755 });
    else if (type === 'file') await copyFile(from, to, constants.COPYFILE_FICLONE);
    else await writeFile(to, target ?? '', { mode: 0o644 });
    if (type === 'directory') {
      // Siblings are copied a few at a time: the kernel copies, so this overlaps I/O waits.
      const names = await readUtf8Names(from);
      for (let i = 0; i < names.length; i += COPY_CONCURRENCY) {
        await Promise.all(names.slice(i, i + COPY_CONCURRENCY).map((name) => visit(join(rel, name))));
      }
    }
  };
  await visit('');
  await addMissingDevices(dest, ownership, tree, record);
  await writeFile(dumpFile, dump.join('\n'));
  await runAttrTool('setfattr', ['-h', `--restore=${dumpFile}`]);
  return tree;
}

/**
 * Device nodes the ownership map names but the root lacks (an unprivileged unpack cannot mknod, and
 * may write nothing there) are made as placeholders; any other path the map names must exist.
 */
async function addMissingDevices(
  dest: string,
  ownership: ReadonlyMap<string, PathOwnership>,
  tree: Map<string, TreeEntry>,
  record: (image: string, to: string, host: { mode: number; uid: number; gid: number; rdev: bigint; size: bigint }) => EntryType,
): Promise<void> {
  for (const [path, entry] of ownership) {
    if (tree.has(path)) continue;
    if (!entry.device || tree.get(posix.dirname(path))?.type !== 'directory') {
      throw new VmOptionError(`vm: ownership[${JSON.stringify(path)}] names a path that is not in the root${entry.device ? ' (nor is its parent directory)' : ''}`);
    }
    await writeFile(join(dest, path), '', { mode: 0o644 });
    record(path, join(dest, path), { mode: 0o100644, uid: 0, gid: 0, rdev: 0n, size: 0n });
  }
}

/**
 * The sorted names in `dir`. Paths reach the caller (changes, outputDir) as strings, so a name that
 * is not UTF-8 cannot be carried: it is reported naming `shownDir` (the host directory for the root,
 * before any VM boots; the image path for a name the script made).
 */
async function readUtf8Names(dir: string, shownDir = dir, by = ''): Promise<string[]> {
  const names = await readdir(dir, { encoding: 'buffer' });
  for (const name of names) {
    if (!Buffer.from(name.toString('utf8'), 'utf8').equals(name)) {
      const shown = [...name].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
      throw new VmOptionError(`vm: ${shownDir} holds a name${by} that is not UTF-8 ("${shown}"); runAsRoot cannot carry it through its change list`);
    }
  }
  return names.map((name) => name.toString('utf8')).sort();
}

function dumpRecord(path: string, uid: number, gid: number, mode: number, rdev: bigint | undefined): string {
  const lines = [`# file: ${escapePath(path)}`, `${XATTR.uid}=${u32(uid)}`, `${XATTR.gid}=${u32(gid)}`, `${XATTR.mode}=${u32(mode)}`];
  if (rdev !== undefined) lines.push(`${XATTR.rdev}=${u64(rdev)}`);
  return `${lines.join('\n')}\n`;
}

/** Reads every path under `dir` as the guest sees it, keyed by image path (`/etc/passwd`, `/` for `dir` itself). */
export async function readMappedTree(dir: string): Promise<Map<string, TreeEntry>> {
  const xattrs = await readXattrs(dir);
  const tree = new Map<string, TreeEntry>([['/', await mappedEntry(dir, await lstat(dir, { bigint: true }), xattrs.get(dir))]]);
  const visit = async (rel: string): Promise<void> => {
    const names = await readUtf8Names(join(dir, rel), rel || '/', ' made by the script');
    for (let i = 0; i < names.length; i += COPY_CONCURRENCY) {
      // lstat a few siblings at a time (libuv's pool runs them in parallel); descend in parallel too.
      await Promise.all(
        names.slice(i, i + COPY_CONCURRENCY).map(async (name) => {
          const child = `${rel}/${name}`;
          const s = await lstat(join(dir, child), { bigint: true });
          const entry = await mappedEntry(join(dir, child), s, xattrs.get(join(dir, child)));
          tree.set(child, entry);
          if (entry.type === 'directory' && s.isDirectory()) await visit(child);
        }),
      );
    }
  };
  await visit('');
  // Map order is the walk's; sort so callers see paths in a stable order.
  return new Map([...tree].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

async function mappedEntry(path: string, s: BigIntStats, x: Map<string, Buffer> | undefined): Promise<TreeEntry> {
  const fullMode = x?.get(XATTR.mode)?.readUInt32LE(0) ?? Number(s.mode);
  const type = typeOfMode(fullMode);
  const base = {
    type,
    mode: fullMode & 0o7777,
    uid: x?.get(XATTR.uid)?.readUInt32LE(0) ?? Number(s.uid),
    gid: x?.get(XATTR.gid)?.readUInt32LE(0) ?? Number(s.gid),
    size: s.size,
  };
  if (type === 'symlink') {
    const target = s.isSymbolicLink() ? await readlink(path) : await readFile(path, 'utf8');
    return { ...base, target };
  }
  if (type === 'char' || type === 'block') {
    const rdev = x?.get(XATTR.rdev);
    return { ...base, rdev: rdev ? rdev.readBigUInt64LE(0) : s.rdev };
  }
  return base;
}

/** Every user.virtfs.* xattr under `dir`, by absolute path, from one `getfattr -R` run. */
async function readXattrs(dir: string): Promise<Map<string, Map<string, Buffer>>> {
  const out = await runAttrTool('getfattr', ['-R', '-P', '-h', '--absolute-names', '-d', '-m', '^user\\.virtfs\\.', '-e', 'hex', dir]);
  const result = new Map<string, Map<string, Buffer>>();
  let current: Map<string, Buffer> | undefined;
  for (const line of out.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = new Map();
      result.set(unescapePath(line.slice('# file: '.length)), current);
    } else if (current && line.includes('=0x')) {
      const eq = line.indexOf('=');
      current.set(line.slice(0, eq), Buffer.from(line.slice(eq + 3), 'hex'));
    }
  }
  return result;
}

async function runAttrTool(tool: 'getfattr' | 'setfattr', args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(tool, args, { maxBuffer: 1 << 30, encoding: 'utf8' });
    return stdout;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new VmMissingComponentError(`vm: ${tool} not found on PATH; install attr`, { cause: error });
    }
    // Typically "Operation not supported": tmpfs before Linux 6.6 has no user xattrs.
    const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim();
    throw new VmOptionError(`vm: ${tool} failed (${stderr.split('\n')[0]}); the working directory must be on a file system with user xattrs (set tmpDir)`);
  }
}

/** getfattr/setfattr quote bytes outside printable ASCII, `\` and `=` as `\ooo` octal. */
export function escapePath(path: string): string {
  let out = '';
  for (const byte of Buffer.from(path, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += byte > 0x20 && byte < 0x7f && c !== '\\' && c !== '=' ? c : `\\${byte.toString(8).padStart(3, '0')}`;
  }
  return out;
}

/** The inverse of {@link escapePath}. */
export function unescapePath(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const octal = text[i] === '\\' ? /^[0-7]{3}/.exec(text.slice(i + 1)) : null;
    if (octal) {
      bytes.push(Number.parseInt(octal[0], 8));
      i += 3;
    } else if (text[i] === '\\' && text[i + 1] === '\\') {
      bytes.push(0x5c);
      i += 1;
    } else bytes.push(...Buffer.from(text[i]!, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

function u32(n: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return `0x${b.toString('hex')}`;
}

function u64(n: bigint): string {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return `0x${b.toString('hex')}`;
}

/**
 * Turns a working copy back into host form after the run: paths the guest sees as symlinks become
 * real symlinks again. Device nodes, fifos and sockets stay empty placeholder files (making real
 * ones needs privileges); their type and numbers are in the change list, as are owners and modes.
 */
export async function restoreSymlinks(dir: string, tree: ReadonlyMap<string, TreeEntry>): Promise<void> {
  for (const [path, entry] of tree) {
    if (entry.type !== 'symlink' || entry.target === undefined) continue;
    const host = join(dir, path);
    const s = await lstat(host);
    if (s.isSymbolicLink()) continue;
    await unlink(host);
    await symlink(entry.target, host);
  }
}
