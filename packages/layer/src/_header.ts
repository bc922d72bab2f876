// Exact byte sizes of tar entries as tar-stream writes them, so a tar's size is known from
// metadata alone, before any file is read. Mirrors tar-stream 3's pack.js/headers.js: a plain
// ustar header when every field fits, otherwise a PAX extended header (`path`, `linkpath` and the
// records from paxRecords) followed by the ustar header.
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
const NON_ASCII = /[^\x00-\x7f]/;

function checkRange(header: TarHeader, field: 'mtime' | 'uid' | 'gid' | 'devmajor' | 'devminor', max: number, range: string): void {
  const value = header[field] ?? 0;
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new LayerError('INVALID_OPTION', `layer: ${header.name}: ${field} ${value} is out of range (${range})`);
  }
}

/**
 * Refuses header values no tar header can hold (a uid of 2^40, an mtime of 1e12), which would
 * otherwise be written as broken or silently different fields.
 */
export function checkHeader(header: TarHeader): void {
  checkRange(header, 'mtime', MAX_MTIME, `0 to ${MAX_MTIME}, 1970 to 2242-03-16`);
  checkRange(header, 'uid', MAX_PAX_ID, `0 to ${MAX_PAX_ID}`);
  checkRange(header, 'gid', MAX_PAX_ID, `0 to ${MAX_PAX_ID}`);
  checkRange(header, 'devmajor', MAX_DEVICE, `0 to ${MAX_DEVICE}`);
  checkRange(header, 'devminor', MAX_DEVICE, `0 to ${MAX_DEVICE}`);
}

/** Rounds a byte count up to whole 512-byte blocks. */
export function padToBlock(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

function fitsField(value: string, max: number): boolean {
  return !NON_ASCII.test(value) && Buffer.byteLength(value) <= max;
}

/**
 * The PAX records beyond path/linkpath an entry needs (ids too large for the octal fields, an mtime
 * past 2038, long or non-ASCII owner names), or undefined when a plain ustar header can hold the entry.
 */
export function paxRecords(header: TarHeader): Record<string, string> | undefined {
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

/** The bytes of the PAX extended header body tar-stream writes for `header` with `records`. */
export function paxBodySize(header: TarHeader, records: Record<string, string>): number {
  let text = paxRecord('path', header.name);
  if (header.linkname) text += paxRecord('linkpath', header.linkname);
  for (const [key, value] of Object.entries(records)) text += paxRecord(key, value);
  return Buffer.byteLength(text);
}

/** Bytes one entry occupies in the archive: header block(s) plus its padded content. */
export function entrySize(header: TarHeader): number {
  checkHeader(header);
  const records = paxRecords(header);
  const pax = records ? BLOCK + padToBlock(paxBodySize(header, records)) : 0;
  const body = header.type === 'file' ? padToBlock(header.size) : 0;
  return pax + BLOCK + body;
}

/** The two zero blocks that end every archive tar-stream writes. */
export const END_OF_ARCHIVE = 2 * BLOCK;
