// Tar headers exactly as tar-stream 3 writes them (pack.js/headers.js) for the headers strata gave
// it, encoded here so archives can be written straight into a reused buffer: a plain ustar header
// when every field fits, otherwise a PAX extended header (`path`, `linkpath` and the records from
// paxRecords) followed by the ustar header. The sizes follow from the same code, so a tar's size is
// known from metadata alone.
import { LayerError } from './errors.js';
import type { TarHeader } from './tar-entry.js';

const BLOCK = 512;
/** The largest id tar-stream's 6-digit octal uid/gid fields hold; larger ones go in PAX records. */
const MAX_ID = 0o777777;
/** Linux ids are 32 bits, and (uid_t)-1 means "no change" to chown: no file can be owned by it. */
const MAX_PAX_ID = 2 ** 32 - 2;
/** tar-stream encodes mtime through a 32-bit integer; later times go in a PAX record. */
const MAX_USTAR_MTIME = 2 ** 31 - 1;
/** What a ustar mtime field (11 octal digits) holds: 2242-03-16. Later times are refused. */
const MAX_MTIME = 8 ** 11 - 1;
/** Device numbers have 6-digit octal fields and no PAX record. */
const MAX_DEVICE = 0o777777;

function checkRange(header: TarHeader, field: 'mtime' | 'uid' | 'gid' | 'devmajor' | 'devminor', max: number, range: string): void {
  const value = header[field] ?? 0;
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new LayerError('INVALID_OPTION', `layer: ${header.name}: ${field} ${value} is out of range (${range})`);
  }
}
// Made once: checkHeader runs for every entry written, and the messages only when one is refused.
const MTIME_RANGE = `0 to ${MAX_MTIME}, 1970 to 2242-03-16`;
const ID_RANGE = `0 to ${MAX_PAX_ID}`;
const DEVICE_RANGE = `0 to ${MAX_DEVICE}`;

/**
 * Refuses header values no tar header can hold (a uid of 2^40, an mtime of 1e12), which would
 * otherwise be written as broken or silently different fields.
 */
export function checkHeader(header: TarHeader): void {
  checkRange(header, 'mtime', MAX_MTIME, MTIME_RANGE);
  checkRange(header, 'uid', MAX_PAX_ID, ID_RANGE);
  checkRange(header, 'gid', MAX_PAX_ID, ID_RANGE);
  checkRange(header, 'devmajor', MAX_DEVICE, DEVICE_RANGE);
  checkRange(header, 'devminor', MAX_DEVICE, DEVICE_RANGE);
}

/** Rounds a byte count up to whole 512-byte blocks. */
export function padToBlock(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/** ASCII and at most `max` bytes (UTF-8 takes one byte per UTF-16 unit only for ASCII). */
export function fitsField(value: string, max: number): boolean {
  return value.length <= max && Buffer.byteLength(value) === value.length;
}

/**
 * The PAX records beyond path/linkpath an entry needs (ids too large for the octal fields, an mtime
 * past 2038, long or non-ASCII owner names), or undefined when a plain ustar header can hold the entry.
 */
export function paxRecords(header: TarHeader): Record<string, string> | undefined {
  // Asked twice for every entry (sizing and writing): the common case first, allocating nothing.
  if (
    header.mtime <= MAX_USTAR_MTIME &&
    header.uid <= MAX_ID &&
    header.gid <= MAX_ID &&
    fitsField(header.name, 100) &&
    fitsField(header.uname, 32) &&
    fitsField(header.gname, 32) &&
    (header.linkname === undefined || fitsField(header.linkname, 100))
  ) {
    return undefined;
  }
  const extra: Record<string, string> = {};
  if (header.mtime > MAX_USTAR_MTIME) extra.mtime = String(header.mtime);
  if (header.uid > MAX_ID) extra.uid = String(header.uid);
  if (header.gid > MAX_ID) extra.gid = String(header.gid);
  if (!fitsField(header.uname, 32)) extra.uname = header.uname;
  if (!fitsField(header.gname, 32)) extra.gname = header.gname;
  const plain =
    Object.keys(extra).length === 0 &&
    fitsField(header.name, 100) &&
    (header.linkname === undefined || fitsField(header.linkname, 100));
  return plain ? undefined : extra;
}

function paxRecord(key: string, value: string): string {
  // A record is "LEN key=value\n" where LEN counts its own digits (tar-stream's addLength).
  const body = ` ${key}=${value}\n`;
  const len = Buffer.byteLength(body);
  let digits = String(len).length;
  if (len + digits >= 10 ** digits) digits++;
  return `${len + digits}${body}`;
}

/** The PAX extended header body tar-stream writes for `header` with `records`. */
function paxBody(header: TarHeader, records: Record<string, string>): string {
  let text = paxRecord('path', header.name);
  if (header.linkname) text += paxRecord('linkpath', header.linkname);
  for (const [key, value] of Object.entries(records)) text += paxRecord(key, value);
  return text;
}

/** Bytes of the header block(s) of one entry: one ustar block, or a PAX header, its padded body and the ustar block. */
function headerSize(header: TarHeader): number {
  const records = paxRecords(header);
  return records ? 2 * BLOCK + padToBlock(Buffer.byteLength(paxBody(header, records))) : BLOCK;
}

/** The size of one ustar header block, which is all an entry needs when every field fits in it. */
export const HEADER_BLOCK = BLOCK;

/** Bytes one entry occupies in the archive: header block(s) plus its padded content. */
export function entrySize(header: TarHeader): number {
  checkHeader(header);
  return headerSize(header) + (header.type === 'file' ? padToBlock(header.size) : 0);
}

/** The two zero blocks that end every archive. */
export const END_OF_ARCHIVE = 2 * BLOCK;

const TYPE_FLAGS: Record<TarHeader['type'] | 'pax-header', number> = {
  file: 0,
  link: 1,
  symlink: 2,
  'character-device': 3,
  'block-device': 4,
  directory: 5,
  fifo: 6,
  'pax-header': 72,
};

/** tar-stream's encodeOct: zero-padded octal and a space, or all sevens when the value does not fit. */
function octal(value: number, digits: number): string {
  const text = value.toString(8);
  return text.length > digits ? `${'7'.repeat(digits)} ` : `${'0'.repeat(digits - text.length)}${text} `;
}

/** octal() written into `block` at `at`, digit by digit for the usual whole numbers (no string made). */
function putOctal(block: Buffer, at: number, value: number, digits: number): void {
  if (!(Number.isSafeInteger(value) && value >= 0 && value < 8 ** digits)) {
    block.write(octal(value, digits), at, 'latin1');
    return;
  }
  let rest = value;
  for (let i = at + digits - 1; i >= at; i--) {
    block[i] = 0x30 + (rest % 8);
    rest = Math.floor(rest / 8);
  }
  block[at + digits] = 0x20;
}

/** Seconds as tar-stream derives them from the Date it is given (a 32-bit integer, 0 when out of range). */
function mtimeField(seconds: number): number {
  // Whole seconds in Date's range come back unchanged before the 32-bit cut; only others need the Date.
  if (Number.isInteger(seconds) && Math.abs(seconds) <= 8.64e12) return seconds | 0;
  return (new Date(seconds * 1000).getTime() / 1000) | 0;
}

interface UstarFields {
  readonly name: string;
  readonly type: TarHeader['type'] | 'pax-header';
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly mtime: number;
  readonly linkname: string;
  readonly uname: string;
  readonly gname: string;
  readonly devmajor: number;
  readonly devminor: number;
}

/** One ustar block at `out[at..at+512)`, which must be zero. */
function writeUstar(f: UstarFields, out: Buffer, at: number): void {
  const block = at === 0 && out.length === BLOCK ? out : out.subarray(at, at + BLOCK);
  block.write(f.name, 0);
  putOctal(block, 100, f.mode & 0o7777, 6);
  putOctal(block, 108, f.uid, 6);
  putOctal(block, 116, f.gid, 6);
  writeSize(block, f.size);
  putOctal(block, 136, mtimeField(f.mtime), 11);
  block[156] = 0x30 + TYPE_FLAGS[f.type];
  if (f.linkname) block.write(f.linkname, 157);
  block.set(MAGIC, 257);
  if (f.uname) block.write(f.uname, 265);
  if (f.gname) block.write(f.gname, 297);
  putOctal(block, 329, f.devmajor, 6);
  putOctal(block, 337, f.devminor, 6);
  putOctal(block, 148, checksum(block), 6);
}

/** The size field: octal, or base-256 for sizes of 8 GiB and more. */
function writeSize(block: Buffer, size: number): void {
  if (size < 8 ** 11) {
    putOctal(block, 124, size, 11);
    return;
  }
  block[124] = 0x80;
  let n = size;
  for (let i = 11; i > 0; i--) {
    block[124 + i] = n & 0xff;
    n = Math.floor(n / 0x100);
  }
}

/** The header checksum: every byte, with the checksum field itself counted as spaces. */
function checksum(block: Buffer): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < 148; i++) sum += block[i]!;
  for (let i = 156; i < BLOCK; i++) sum += block[i]!;
  return sum;
}

/** "ustar\0" and version "00", as POSIX ustar has them. */
const MAGIC = Buffer.from('ustar\x0000', 'latin1');

/**
 * Encodes the headers of one archive, a plain one into one reused block that starts from a
 * template of what consecutive entries share (owner, mtime, magic), so only the name, mode, size,
 * type and link are written per entry. Byte for byte what encodeHeader writes.
 */
export class HeaderWriter {
  readonly #block = Buffer.alloc(BLOCK);
  readonly #template = Buffer.alloc(BLOCK);
  #shared: Pick<TarHeader, 'uid' | 'gid' | 'uname' | 'gname' | 'mtime'> = { uid: -1, gid: -1, uname: '', gname: '', mtime: -1 };

  /** The header block(s) of `header`: for a plain header a view of the reused block, valid until the next call. */
  encode(header: TarHeader): Buffer {
    if (paxRecords(header) !== undefined) return encodeHeader(header);
    checkHeader(header);
    const s = this.#shared;
    if (header.uid !== s.uid || header.gid !== s.gid || header.uname !== s.uname || header.gname !== s.gname || header.mtime !== s.mtime) {
      this.#setShared(header);
    }
    const block = this.#block;
    block.set(this.#template);
    // Plain headers have ASCII names and links, for which latin1 and UTF-8 are the same bytes.
    block.write(header.name, 0, 'latin1');
    putOctal(block, 100, header.mode & 0o7777, 6);
    writeSize(block, header.type === 'file' ? header.size : 0);
    block[156] = 0x30 + TYPE_FLAGS[header.type];
    if (header.linkname) block.write(header.linkname, 157, 'latin1');
    if (header.devmajor) putOctal(block, 329, header.devmajor, 6);
    if (header.devminor) putOctal(block, 337, header.devminor, 6);
    putOctal(block, 148, checksum(block), 6);
    return block;
  }

  #setShared(header: TarHeader): void {
    const t = this.#template.fill(0);
    putOctal(t, 108, header.uid, 6);
    putOctal(t, 116, header.gid, 6);
    putOctal(t, 136, mtimeField(header.mtime), 11);
    t.set(MAGIC, 257);
    if (header.uname) t.write(header.uname, 265);
    if (header.gname) t.write(header.gname, 297);
    putOctal(t, 329, 0, 6);
    putOctal(t, 337, 0, 6);
    this.#shared = { uid: header.uid, gid: header.gid, uname: header.uname, gname: header.gname, mtime: header.mtime };
  }
}

/**
 * The header block(s) of an entry, as tar-stream writes them for the header strata gives it:
 * permission bits only, owner names blank and mtime 0 when PAX carries them, sizes only for files.
 * Refuses values no header can hold (see {@link checkHeader}).
 */
export function encodeHeader(header: TarHeader): Buffer {
  checkHeader(header);
  const records = paxRecords(header);
  const fields: UstarFields = {
    name: header.name,
    type: header.type,
    mode: header.mode,
    uid: header.uid,
    gid: header.gid,
    size: header.type === 'file' ? header.size : 0,
    // A PAX mtime replaces the ustar field, which tar-stream cannot write past 2038: it stays 0.
    mtime: records?.mtime === undefined ? header.mtime : 0,
    linkname: header.linkname ?? '',
    uname: records?.uname === undefined ? header.uname : '',
    gname: records?.gname === undefined ? header.gname : '',
    devmajor: header.devmajor ?? 0,
    devminor: header.devminor ?? 0,
  };
  if (records === undefined) {
    const out = Buffer.alloc(BLOCK);
    writeUstar(fields, out, 0);
    return out;
  }
  const body = Buffer.from(paxBody(header, records));
  const out = Buffer.alloc(2 * BLOCK + padToBlock(body.length));
  const pax = { ...fields, name: 'PaxHeader', linkname: fields.linkname && 'PaxHeader' };
  writeUstar({ ...pax, type: 'pax-header', size: body.length }, out, 0);
  body.copy(out, BLOCK);
  writeUstar(pax, out, out.length - BLOCK);
  return out;
}
