import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { makeTempDir, type TempDir } from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createImageConfig } from './config.js';
import { writeDockerArchive } from './write-archive.js';
import { writeDockerArchiveFile } from './write-archive-file.js';

let tmp: TempDir;
beforeAll(async () => {
  tmp = await makeTempDir('strata-archive-file-');
});
afterAll(() => tmp.remove());

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
// Sizes around the block boundaries, empty, and a body streamed in odd pieces.
const bodies = [Buffer.alloc(0), Buffer.from('x'.repeat(511)), Buffer.from('y'.repeat(512)), Buffer.from(Array.from({ length: 300_001 }, (_, i) => (i * 13) & 0xff))];
const pieces = (b: Buffer) => Readable.from([b.subarray(0, 7), b.subarray(7, 70_000), b.subarray(70_000)].filter((p) => p.length > 0));

function template(layers: number) {
  const { rootfs: _, ...rest } = createImageConfig(Array(layers).fill('x'), { architecture: 'amd64', config: { Cmd: ['/a'] } });
  return rest;
}

describe('writeDockerArchiveFile', () => {
  it('writes byte for byte what writeDockerArchive streams, without knowing the sizes', async () => {
    const streamed = await buffer(writeDockerArchive(bodies.map((b) => ({ size: b.length, open: () => pieces(b) })), template(bodies.length), { repoTags: ['a:1'] }));
    const path = join(tmp.path, 'a.tar');
    await writeFile(path, '');
    let counted = 0;
    const sizes: number[] = [];
    const count = (chunk: Buffer, _encoding: BufferEncoding, done: (error: null, chunk: Buffer) => void) => {
      counted += chunk.length;
      done(null, chunk);
    };
    const through = () => [new Transform({ transform: count })];
    const config = await writeDockerArchiveFile(path, bodies.map((b) => ({ open: () => pieces(b) })), template(bodies.length), { repoTags: ['a:1'], through, onLayer: (i, size) => sizes.push(i, size) });
    const written = await readFile(path);
    expect(sha(written)).toBe(sha(streamed));
    expect(sizes).toEqual(bodies.flatMap((b, i) => [i, b.length]));
    expect(counted).toBe(bodies.reduce((s, b) => s + b.length, 0));
    expect(config.digest).toBe(sha(config.bytes));
    expect(JSON.parse(config.bytes.toString()).rootfs.diff_ids).toEqual(bodies.map(sha));
  });

  it('keeps given config bytes and refuses ones that name other layers', async () => {
    const ids = bodies.map(sha);
    const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: ids }, history: [{ empty_layer: true }] }));
    const streamed = await buffer(writeDockerArchive(bodies.map((b) => ({ size: b.length, open: () => pieces(b) })), template(bodies.length), { configBytes }));
    const path = join(tmp.path, 'b.tar');
    await writeFile(path, '');
    await writeDockerArchiveFile(path, bodies.map((b) => ({ open: () => pieces(b) })), template(bodies.length), { configBytes });
    expect(sha(await readFile(path))).toBe(sha(streamed));
    await writeFile(path, '');
    const wrong = bodies.map((b) => ({ open: () => pieces(Buffer.concat([b, Buffer.from('!')])) }));
    await expect(writeDockerArchiveFile(path, wrong, template(bodies.length), { configBytes })).rejects.toThrow(/diff_ids do not match/);
  });

  it('stops with the abort reason and with a failing layer', async () => {
    const path = join(tmp.path, 'c.tar');
    await writeFile(path, '');
    const failing = { open: () => Readable.from((async function* () { yield Buffer.from('a'); throw new Error('network gone'); })()) };
    await expect(writeDockerArchiveFile(path, [failing], template(1))).rejects.toThrow('network gone');
    const stop = new AbortController();
    stop.abort(new Error('stopped'));
    await expect(writeDockerArchiveFile(path, [{ open: () => pieces(bodies[1]!) }], template(1), { signal: stop.signal })).rejects.toThrow('stopped');
  });

  it('writes layers of known size side by side, to the same bytes, telling their sizes in order', async () => {
    const streamed = await buffer(writeDockerArchive(bodies.map((b) => ({ size: b.length, open: () => pieces(b) })), template(bodies.length), { repoTags: ['d:1'] }));
    // Some sizes known, some learnt: a layer after an unknown one waits for its place.
    const known = [true, true, false, true];
    for (const concurrency of [2, 3, 8]) {
      const path = join(tmp.path, `d${concurrency}.tar`);
      await writeFile(path, '');
      let open = 0;
      let most = 0;
      const layers = bodies.map((b, i) => ({
        ...(known[i] ? { size: b.length } : {}),
        open: () => {
          open++;
          most = Math.max(most, open);
          const stream = pieces(b);
          stream.once('close', () => open--);
          return stream;
        },
      }));
      const sizes: number[] = [];
      await writeDockerArchiveFile(path, layers, template(bodies.length), { repoTags: ['d:1'], concurrency, onLayer: (i, size) => sizes.push(i, size) });
      expect(sha(await readFile(path))).toBe(sha(streamed));
      expect(sizes).toEqual(bodies.flatMap((b, i) => [i, b.length]));
      expect(most).toBeGreaterThan(1);
      expect(most).toBeLessThanOrEqual(concurrency);
    }
  });

  it('fails a layer that is not the size it was said to be, and stops the others', async () => {
    const path = join(tmp.path, 'e.tar');
    await writeFile(path, '');
    let closed = 0;
    const endless = {
      size: 10,
      open: () => {
        const stream = new Readable({ read() {} });
        stream.once('close', () => closed++);
        return stream;
      },
    };
    const short = { size: 600, open: () => pieces(bodies[1]!) };
    await expect(writeDockerArchiveFile(path, [endless, short], template(2), { concurrency: 2 })).rejects.toThrow('layers/002.tar: 511 bytes were written, 600 were expected');
    expect(closed).toBe(1);
  });
});
