// Hand-made tar archives for tests: every header field as given, so a test can write what no
// well-behaved tar writer would (names that climb out, links to anywhere, whiteouts, repeats).
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createLayer, type Image, type Layer } from '../src/index.js';

/** One raw tar entry. `type` is the ustar typeflag: 0 file, 1 hard link, 2 symlink, 3 char, 4 block, 5 dir, 6 fifo. */
export interface RawEntry {
  readonly name: string;
  readonly type?: '0' | '1' | '2' | '3' | '4' | '5' | '6';
  readonly body?: string | Buffer;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly uname?: string;
  readonly linkname?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
}

function octal(block: Buffer, at: number, width: number, value: number): void {
  block.write(`${value.toString(8).padStart(width - 1, '0')}\0`, at, width, 'ascii');
}

function header(fields: Omit<RawEntry, 'type'> & { name: string; type: string; size: number; linkname: string }): Buffer {
  const block = Buffer.alloc(512);
  block.write(fields.name, 0, 100, 'utf8');
  octal(block, 100, 8, fields.mode ?? (fields.type === '5' ? 0o755 : 0o644));
  octal(block, 108, 8, fields.uid ?? 0);
  octal(block, 116, 8, fields.gid ?? 0);
  octal(block, 124, 12, fields.size);
  octal(block, 136, 12, 1);
  block.write(fields.type, 156, 1, 'ascii');
  block.write(fields.linkname, 157, 100, 'utf8');
  block.write('ustar\u000000', 257, 8, 'latin1');
  block.write(fields.uname ?? '', 265, 32, 'utf8');
  octal(block, 329, 8, fields.devmajor ?? 0);
  octal(block, 337, 8, fields.devminor ?? 0);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return block;
}

function pad(bytes: Buffer): Buffer {
  const rest = bytes.length % 512;
  return rest === 0 ? bytes : Buffer.concat([bytes, Buffer.alloc(512 - rest)]);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length++;
  return `${length}${body}`;
}

/** A tar archive of `entries`, in order, exactly as given (a PAX header carries names over 100 bytes). */
export function rawTar(entries: readonly RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const body = Buffer.from(entry.body ?? '');
    const type = entry.type ?? '0';
    if (Buffer.byteLength(entry.name) > 100 || Buffer.byteLength(entry.linkname ?? '') > 100) {
      const pax = Buffer.from(paxRecord('path', entry.name) + (entry.linkname ? paxRecord('linkpath', entry.linkname) : ''));
      blocks.push(header({ ...entry, name: 'PaxHeader', type: 'x', size: pax.length, linkname: '' }), pad(pax));
    }
    blocks.push(header({ ...entry, name: entry.name.slice(0, 100), type, size: type === '0' ? body.length : 0, linkname: entry.linkname ?? '' }));
    if (type === '0') blocks.push(pad(body));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** A layer of `entries` that declares its diffID and counts how often it is opened. */
export function rawLayer(entries: readonly RawEntry[], opened = { count: 0 }): Layer & { opened: { count: number } } {
  const tar = rawTar(entries);
  const layer = createLayer({
    size: tar.length,
    diffId: sha256(tar),
    open: () => {
      opened.count++;
      return Readable.from([tar]);
    },
  });
  return Object.assign(layer, { opened });
}

/** An image of `layers` with a trivial config. */
export function imageOf(layers: readonly Layer[], repoTags: readonly string[] = []): Image {
  return {
    repoTags,
    platform: { os: 'linux', architecture: 'amd64' },
    layers,
    config: (diffIds) => Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } })),
    dispose: async () => {},
  };
}
