import { execFile } from 'node:child_process';
import { constants, type BigIntStats } from 'node:fs';
import { copyFile, lstat, mkdir, readdir, readFile, readlink, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { VmMissingComponentError, VmOptionError } from './errors.js';

// QEMU's 9p `security_model=mapped-xattr` keeps what the guest sets (owner, mode with the type bits,
// device numbers) in these xattrs on the host file; symlinks and device nodes made in the guest are
// plain host files (a symlink's content is its target). A working copy is written in that same form
// so the guest sees real symlinks and root-owned files.
const XATTR = { uid: 'user.virtfs.uid', gid: 'user.virtfs.gid', mode: 'user.virtfs.mode', rdev: 'user.virtfs.rdev' };

/** The type of a path in the root, as the guest sees it. */
export type EntryType = 'file' | 'directory' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';

/** A path of the root as the guest sees it, plus the host identity that reveals content changes. */
export interface TreeEntry {
  readonly type: EntryType;
  /** Permission bits, including setuid/setgid/sticky. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Device number for char/block devices (Linux encoding). */
  readonly rdev?: number;
  /** Symlink target. */
  readonly target?: string;
  readonly size: bigint;
  readonly ino: bigint;
  readonly ctimeNs: bigint;
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
}

/**
 * Copies `source` into the new directory `dest` in mapped-xattr form and sets the xattrs in one
 * `setfattr --restore` pass (the dump is written to `dumpFile`, outside `dest`).
 */
export async function copyToMappedForm(source: string, dest: string, dumpFile: string, options: CopyOptions = {}): Promise<void> {
  const dump: string[] = [];
  const visit = async (rel: string): Promise<void> => {
    const from = join(source, rel);
    const to = join(dest, rel);
    // The root itself may be given as a symlink to a directory; everything below is copied as is.
    const s = rel === '' ? await stat(from, { bigint: true }) : await lstat(from, { bigint: true });
    const mode = Number(s.mode);
    if (s.isDirectory()) await mkdir(to, { mode: 0o755 });
    else if (s.isFile()) await copyFile(from, to, constants.COPYFILE_FICLONE);
    else if (s.isSymbolicLink()) await writeFile(to, await readlink(from), { mode: 0o644 });
    else await writeFile(to, '', { mode: 0o644 });
    const owner = options.preserveOwnership ? { uid: Number(s.uid), gid: Number(s.gid) } : { uid: 0, gid: 0 };
    dump.push(dumpRecord(to, owner.uid, owner.gid, s.isSymbolicLink() ? 0o120777 : mode, Number(s.rdev), s));
    if (s.isDirectory()) {
      // Siblings are copied a few at a time: the kernel copies, so this overlaps I/O waits.
      const names = await readUtf8Names(from);
      for (let i = 0; i < names.length; i += COPY_CONCURRENCY) {
        await Promise.all(names.slice(i, i + COPY_CONCURRENCY).map((name) => visit(join(rel, name))));
      }
    }
  };
  await visit('');
  await writeFile(dumpFile, dump.join('\n'));
  await runAttrTool('setfattr', ['-h', `--restore=${dumpFile}`]);
}

/**
 * The sorted names in `dir`. Paths reach the caller (changes, outputDir) as strings, so a name that
 * is not UTF-8 cannot be carried: it is reported here, naming the directory, before any VM boots.
 */
async function readUtf8Names(dir: string): Promise<string[]> {
  const names = await readdir(dir, { encoding: 'buffer' });
  for (const name of names) {
    if (!Buffer.from(name.toString('utf8'), 'utf8').equals(name)) {
      const shown = [...name].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
      throw new VmOptionError(`vm: ${dir} holds a name that is not UTF-8 ("${shown}"); runAsRoot cannot carry it through its change list`);
    }
  }
  return names.map((name) => name.toString('utf8')).sort();
}

function dumpRecord(path: string, uid: number, gid: number, mode: number, rdev: number, s: BigIntStats): string {
  const lines = [`# file: ${escapePath(path)}`, `${XATTR.uid}=${u32(uid)}`, `${XATTR.gid}=${u32(gid)}`, `${XATTR.mode}=${u32(mode)}`];
  if (s.isCharacterDevice() || s.isBlockDevice()) lines.push(`${XATTR.rdev}=${u64(rdev)}`);
  return `${lines.join('\n')}\n`;
}

/** Reads every path under `dir` as the guest sees it, keyed by image path (`/etc/passwd`); the root itself is left out. */
export async function readMappedTree(dir: string): Promise<Map<string, TreeEntry>> {
  const xattrs = await readXattrs(dir);
  const tree = new Map<string, TreeEntry>();
  const visit = async (rel: string): Promise<void> => {
    const names = (await readdir(join(dir, rel))).sort();
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
    ino: s.ino,
    ctimeNs: s.ctimeNs,
  };
  if (type === 'symlink') {
    const target = s.isSymbolicLink() ? await readlink(path) : await readFile(path, 'utf8');
    return { ...base, target };
  }
  if (type === 'char' || type === 'block') {
    const rdev = x?.get(XATTR.rdev);
    return { ...base, rdev: rdev ? Number(rdev.readBigUInt64LE(0)) : Number(s.rdev) };
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

function u64(n: number): string {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
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
