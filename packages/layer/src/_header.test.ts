import tarStream from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { checkHeader, encodeHeader, entrySize, HeaderWriter, paxRecords } from './_header.js';
import type { TarHeader } from './tar-entry.js';

const TYPE_BITS: Record<TarHeader['type'], number> = {
  file: 0o100000,
  link: 0o100000,
  directory: 0o40000,
  symlink: 0o120000,
  'character-device': 0o20000,
  'block-device': 0o60000,
  fifo: 0o10000,
};

/** The header strata handed tar-stream's pack before it encoded headers itself (main's toPackHeader). */
function packHeader(entry: TarHeader): tarStream.Header {
  checkHeader(entry);
  const pax = paxRecords(entry);
  return {
    name: entry.name,
    type: entry.type,
    mode: TYPE_BITS[entry.type] | (entry.mode & 0o7777),
    uid: entry.uid,
    gid: entry.gid,
    uname: pax?.uname === undefined ? entry.uname : '',
    gname: pax?.gname === undefined ? entry.gname : '',
    mtime: new Date(pax?.mtime === undefined ? entry.mtime * 1000 : 0),
    devmajor: entry.devmajor ?? 0,
    devminor: entry.devminor ?? 0,
    size: entry.type === 'file' ? entry.size : 0,
    linkname: entry.linkname ?? '',
    ...(pax === undefined ? {} : { pax }),
  };
}

/** The first `length` bytes tar-stream's pack writes for `entry`: its header block(s). */
function tarStreamHeader(entry: TarHeader, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const pack = tarStream.pack();
    const chunks: Buffer[] = [];
    let total = 0;
    pack.on('data', (data) => {
      const chunk = data as Buffer;
      chunks.push(chunk);
      total += chunk.length;
      if (total >= length) {
        resolve(Buffer.concat(chunks).subarray(0, length));
        pack.destroy();
      }
    });
    pack.on('error', () => {});
    const sink = pack.entry(packHeader(entry), (error) => error && reject(error));
    sink.on('error', () => {});
  });
}

const base = { uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1, mode: 0o644, size: 0 };

/** Every field at its edges: ids and sizes past the octal fields, long and non-ASCII names, every type, odd times. */
function headers(): TarHeader[] {
  const names = ['a', 'dir/', 'x'.repeat(100), 'x'.repeat(101), `${'deep/'.repeat(30)}f`, 'ünï/名前', './', './bin/sh'];
  const out: TarHeader[] = [];
  for (const name of names) {
    out.push({ ...base, name, type: 'file', size: 12345 });
    out.push({ ...base, name, type: 'symlink', mode: 0o777, linkname: name.length > 50 ? `/nix/store/${'y'.repeat(120)}` : '../t' });
    out.push({ ...base, name, type: 'link', mode: 0o555, linkname: name.length > 50 ? `./${'z/'.repeat(60)}f` : './bin/sh' });
  }
  out.push({ ...base, name: 'big', type: 'file', size: 2 ** 33 + 5 });
  out.push({ ...base, name: 'max', type: 'file', size: 8 ** 11 - 1 });
  out.push({ ...base, name: 'ids', type: 'file', uid: 0o777777, gid: 0o1000000, size: 1 });
  out.push({ ...base, name: 'ids-max', type: 'link', uid: 2 ** 32 - 2, gid: 2 ** 32 - 2, linkname: 'ids' });
  out.push({ ...base, name: 'owner', type: 'directory', uname: 'u'.repeat(32), gname: 'g'.repeat(33) });
  out.push({ ...base, name: 'owner2', type: 'directory', uname: 'ü', gname: '' });
  out.push({ ...base, name: 'mode0', type: 'file', mode: 0 });
  out.push({ ...base, name: 'modes', type: 'directory', mode: 0o7777 });
  out.push({ ...base, name: 'y2038', type: 'fifo', mtime: 2 ** 31 - 1 });
  out.push({ ...base, name: 'late', type: 'fifo', mtime: 2 ** 31 + 7 });
  out.push({ ...base, name: 'latest', type: 'file', mtime: 8 ** 11 - 1, uid: 0o1000000, size: 3 });
  out.push({ ...base, name: 'late-link', type: 'link', mtime: 2 ** 31, linkname: 'late' });
  out.push({ ...base, name: 'dev', type: 'character-device', devmajor: 0o777777, devminor: 3 });
  out.push({ ...base, name: 'blk', type: 'block-device', devmajor: 8, devminor: 1 });
  out.push({ ...base, name: 'owned', type: 'file', uid: 7, gid: 8, uname: 'u', gname: 'g', mtime: 99, size: 3 });
  out.push({ ...base, name: 'blank', type: 'file', uname: '', gname: '', size: 3 });
  return out;
}

describe('encodeHeader', () => {
  it('writes the bytes tar-stream wrote for every header shape, in the size entrySize says', async () => {
    for (const header of headers()) {
      const ours = encodeHeader(header);
      expect(ours.length + (header.type === 'file' ? Math.ceil(header.size / 512) * 512 : 0)).toBe(entrySize(header));
      expect((await tarStreamHeader(header, ours.length)).toString('hex'), header.name).toBe(ours.toString('hex'));
    }
  });

  it('writes the same bytes through one HeaderWriter, whatever the entry before', () => {
    const all = headers();
    const writer = new HeaderWriter();
    // Forwards, backwards and each twice: a field kept from the last entry would show.
    for (const header of [...all, ...all.reverse(), ...all.flatMap((h) => [h, h])]) {
      expect(writer.encode(header).toString('hex'), header.name).toBe(encodeHeader(header).toString('hex'));
    }
  });
});

describe('header ranges', () => {
  it('refuses, naming the field, what no header can hold, whichever way the header is encoded', () => {
    const writer = new HeaderWriter();
    for (const [over, field] of [
      [{ mtime: 9e12 }, 'mtime'],
      [{ mtime: -1 }, 'mtime'],
      [{ uid: 2 ** 32 - 1 }, 'uid'],
      [{ gid: 0.5 }, 'gid'],
      [{ type: 'character-device', devmajor: 0o7777777 }, 'devmajor'],
      [{ type: 'block-device', devminor: 0o1000000 }, 'devminor'],
    ] as const) {
      const header = { ...base, name: 'bad', type: 'file', ...over } as TarHeader;
      const refused = expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining(`layer: bad: ${field} `) });
      expect(() => encodeHeader(header)).toThrow(refused);
      expect(() => writer.encode(header)).toThrow(refused);
      expect(() => entrySize(header)).toThrow(refused);
    }
  });
});
