/** One entry of a newc cpio archive. Paths are relative (`bin/busybox`), without a leading `./`. */
export type CpioEntry =
  | { readonly path: string; readonly type: 'directory'; readonly mode: number }
  | { readonly path: string; readonly type: 'file'; readonly mode: number; readonly data: Uint8Array }
  | { readonly path: string; readonly type: 'symlink'; readonly target: string };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

/**
 * Writes a deterministic newc ("070701") cpio archive, the format the Linux kernel unpacks as an
 * initramfs: entries sorted by path, owner 0:0, mtime 0, inode numbers counted from 1, and the
 * `TRAILER!!!` record. Same entries, same bytes.
 * @example const bytes = writeCpio([{ path: 'init', type: 'file', mode: 0o755, data }]);
 */
export function writeCpio(entries: readonly CpioEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const parts: Buffer[] = [];
  let offset = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    offset += b.length;
  };
  sorted.forEach((entry, index) => {
    if (entry.path === '' || entry.path.startsWith('/')) throw new TypeError(`cpio: entry path must be relative: ${entry.path}`);
    const data = cpioData(entry);
    const nlink = entry.type === 'directory' ? 2 : 1;
    push(cpioHeader(entry.path, index + 1, cpioMode(entry), nlink, data.length));
    push(pad(offset));
    push(data);
    push(pad(offset));
  });
  push(cpioHeader('TRAILER!!!', 0, 0, 1, 0));
  push(pad(offset));
  return Buffer.concat(parts);
}

function cpioMode(entry: CpioEntry): number {
  if (entry.type === 'directory') return S_IFDIR | (entry.mode & 0o7777);
  if (entry.type === 'file') return S_IFREG | (entry.mode & 0o7777);
  return S_IFLNK | 0o777;
}

function cpioData(entry: CpioEntry): Buffer {
  if (entry.type === 'file') return Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength);
  if (entry.type === 'symlink') return Buffer.from(entry.target, 'utf8');
  return Buffer.alloc(0);
}

function cpioHeader(path: string, ino: number, mode: number, nlink: number, size: number): Buffer {
  const name = Buffer.from(`${path}\0`, 'utf8');
  // newc: magic, then 13 fields of 8 hex digits: ino mode uid gid nlink mtime filesize
  // devmajor devminor rdevmajor rdevminor namesize check.
  const fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, name.length, 0];
  const hex = fields.map((f) => f.toString(16).padStart(8, '0')).join('');
  return Buffer.concat([Buffer.from(`070701${hex}`, 'ascii'), name]);
}

function pad(offset: number): Buffer {
  return Buffer.alloc((4 - (offset % 4)) % 4);
}
