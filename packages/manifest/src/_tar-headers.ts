import { ManifestError } from './errors.js';

const BLOCK = 512;

/** One member of an uncompressed tar, from its header alone (the body is never read here). */
export interface TarHeaderRecord {
  readonly name: string;
  readonly type: 'file' | 'symlink' | 'link' | 'other';
  /** Byte offset of the member's body in the file. */
  readonly offset: number;
  readonly size: number;
  readonly linkname: string;
}

/** Extended names and sizes that apply to the next header (PAX `x`, GNU `L`/`K`). */
interface Pending {
  name?: string;
  linkname?: string;
  size?: number;
}

function cString(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

/** Octal, or base-256 when the high bit is set (GNU, for members of 8 GiB and more). */
function numeric(block: Buffer, start: number, length: number): number {
  const field = block.subarray(start, start + length);
  if (field[0]! & 0x80) return field.subarray(1).reduce((n, byte) => n * 256 + byte, field[0]! & 0x7f);
  const text = cString(block, start, length).trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

function checksumOk(block: Buffer): boolean {
  let sum = 8 * 0x20; // the checksum field counts as spaces
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += block[i]!;
  return sum === numeric(block, 148, 8);
}

/** PAX records: `<length> <key>=<value>\n`, repeated. */
function parsePax(body: Buffer, pending: Pending): void {
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    const length = Number.parseInt(body.subarray(at, space).toString('ascii'), 10);
    if (space === -1 || !(length > 0)) return;
    const record = body.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    if (key === 'path') pending.name = value;
    else if (key === 'linkpath') pending.linkname = value;
    else if (key === 'size') pending.size = Number(value);
    at += length;
  }
}

function memberType(flag: string): TarHeaderRecord['type'] {
  if (flag === '0' || flag === '\0' || flag === '' || flag === '7') return 'file';
  if (flag === '2') return 'symlink';
  if (flag === '1') return 'link';
  return 'other';
}

/** Reads `length` bytes at `position`; fewer only at the end of the tar. */
export type ReadAt = (position: number, length: number) => Promise<Buffer>;

async function readAt(read: ReadAt, position: number, length: number, where: string): Promise<Buffer> {
  const bytes = await read(position, length);
  if (bytes.length !== length) throw new ManifestError('INVALID_ARCHIVE', `${where}: truncated at byte ${position + bytes.length}`);
  return bytes;
}

/** PAX and GNU long-name headers hold a few names; larger ones are refused rather than read into memory. */
const MAX_EXTENSION = 1 << 20;

/**
 * Walks an uncompressed tar's headers with positional reads, seeking past every body, so indexing
 * costs one 512-byte read per member whatever the members' sizes. PAX (`x`) and GNU long-name
 * (`L`, `K`) headers are applied to the member after them.
 */
export async function* walkTarHeaders(read: ReadAt, fileSize: number, where: string): AsyncGenerator<TarHeaderRecord> {
  let position = 0;
  let pending: Pending = {};
  while (position + BLOCK <= fileSize) {
    const block = await readAt(read, position, BLOCK, where);
    if (block.every((byte) => byte === 0)) return; // end-of-archive marker
    if (!checksumOk(block)) throw new ManifestError('INVALID_ARCHIVE', `${where}: bad tar header checksum at byte ${position}`);
    const flag = String.fromCharCode(block[156]!);
    const offset = position + BLOCK;
    const extension = flag === 'x' || flag === 'L' || flag === 'K';
    const size = extension || flag === 'g' ? numeric(block, 124, 12) : (pending.size ?? numeric(block, 124, 12));
    if (!Number.isSafeInteger(size) || size < 0 || offset + size > fileSize) {
      throw new ManifestError('INVALID_ARCHIVE', `${where}: the tar member at byte ${position} claims ${size} bytes past the end of the file`);
    }
    position = offset + Math.ceil(size / BLOCK) * BLOCK;
    if (extension) {
      if (size > MAX_EXTENSION) throw new ManifestError('INVALID_ARCHIVE', `${where}: the extended header at byte ${position} claims ${size} bytes (at most ${MAX_EXTENSION})`);
      const body = await readAt(read, offset, size, where);
      if (flag === 'x') parsePax(body, pending);
      else if (flag === 'L') pending.name = cString(body, 0, body.length);
      else pending.linkname = cString(body, 0, body.length);
      continue;
    }
    // The ustar prefix field only means a prefix in POSIX ustar ("ustar\0"); GNU uses it for times.
    const prefix = block.subarray(257, 263).toString('latin1') === 'ustar\0' ? cString(block, 345, 155) : '';
    const name = pending.name ?? (prefix ? `${prefix}/${cString(block, 0, 100)}` : cString(block, 0, 100));
    yield { name, type: memberType(flag), offset, size, linkname: pending.linkname ?? cString(block, 157, 100) };
    pending = {};
  }
}
