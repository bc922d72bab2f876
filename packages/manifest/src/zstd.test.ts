import { buffer } from 'node:stream/consumers';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createZstdCompress, createZstdDecompress } from './zstd.js';

const data = Buffer.from(Array.from({ length: 3 << 20 }, (_, i) => (i * 31) % 251));

async function through(input: Buffer, stage: NodeJS.ReadWriteStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  await pipeline(Readable.from([input.subarray(0, 12345), input.subarray(12345)], { objectMode: false }), stage, sink);
  return Buffer.concat(chunks);
}

describe('zstd', () => {
  it('compresses deterministically and decompresses what it compressed, on this Node', async () => {
    const one = await through(data, createZstdCompress());
    const two = await through(data, createZstdCompress());
    expect(one.equals(two)).toBe(true);
    expect(one.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))).toBe(true);
    expect((await through(one, createZstdDecompress())).equals(data)).toBe(true);
  });

  it('decompresses when an empty chunk follows the frame (zstd-napi alone fails then)', async () => {
    const frame = await through(data, createZstdCompress());
    const source = Readable.from([frame, Buffer.alloc(0)]);
    expect((await buffer(source.pipe(createZstdDecompress()))).equals(data)).toBe(true);
  });

  it('writes frames the zstd program reads, and reads the frames it writes', async () => {
    const ours = await through(data, createZstdCompress(9));
    expect(execFileSync('zstd', ['-dc'], { input: ours, maxBuffer: 64 << 20 }).equals(data)).toBe(true);
    const theirs = execFileSync('zstd', ['-c', '-19'], { input: data, maxBuffer: 64 << 20 });
    expect((await buffer(Readable.from([theirs]).pipe(createZstdDecompress()))).equals(data)).toBe(true);
  });
});
