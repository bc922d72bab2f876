// Exact byte sizes of tar entries as tar-stream writes them, so a tar's size is known from
// metadata alone, before any file is read. Mirrors tar-stream 3's pack.js/headers.js: a plain
// ustar header when every field fits, otherwise a PAX extended header (`path`, `linkpath` and the
// records from paxRecords) followed by the ustar header.
import type { TarHeader } from './tar-entry.js';

const BLOCK = 512;
const MAX_ID = 0o777777;
const NON_ASCII = /[^\x00-\x7f]/;

/** Rounds a byte count up to whole 512-byte blocks. */
export function padToBlock(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

function fitsField(value: string, max: number): boolean {
  return !NON_ASCII.test(value) && Buffer.byteLength(value) <= max;
}

/**
 * The PAX records beyond path/linkpath an entry needs (ids too large for the octal fields, long or
 * non-ASCII owner names), or undefined when a plain ustar header can hold the entry.
 */
export function paxRecords(header: TarHeader): Record<string, string> | undefined {
  const extra: Record<string, string> = {};
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
  const records = paxRecords(header);
  const pax = records ? BLOCK + padToBlock(paxBodySize(header, records)) : 0;
  const body = header.type === 'file' ? padToBlock(header.size) : 0;
  return pax + BLOCK + body;
}

/** The two zero blocks that end every archive tar-stream writes. */
export const END_OF_ARCHIVE = 2 * BLOCK;
