import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { constants, deflateRawSync, gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type InlineArchive, writeTar } from '@strata/layer';
import { deflateSample, GZIP_BLOCK, GzipArchiveStream, isInlineArchive, keptBuffers, ParallelGzip, RELEASE } from './_parallel-gzip.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Text and binary, compressible, with matches that reach across block boundaries. */
function sample(size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  const noise = randomBytes(4096);
  for (let at = 0; at < size; at += 100) {
    const line = Buffer.from(`line ${at % 7919} ${noise.toString('hex', at % 4000, (at % 4000) + 20)}\n`);
    line.copy(out, at, 0, Math.min(line.length, 100, size - at));
    out.fill(at % 251, at + Math.min(line.length, 100), Math.min(at + 100, size));
  }
  return out;
}

/** Numbered lines, always the same: compressible to almost nothing. */
function lines(size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let at = 0, i = 0; at < size; i++) {
    at += Buffer.from(`${i % 97} entry ${(i * 7919) % 10007} value ${(i * 104729) % 65537}\n`).copy(out, at, 0, Math.min(64, size - at));
  }
  return out;
}

/** Incompressible bytes, always the same (sha256 in counter mode). */
function pseudoRandom(size: number): Buffer {
  const out = Buffer.allocUnsafe(size + 32);
  for (let i = 0, at = 0; at < size; i++, at += 32) createHash('sha256').update(`tail:${i}`).digest().copy(out, at);
  return out.subarray(0, size);
}

async function gzip(input: Buffer, chunks: number[], level = 3): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let at = 0, i = 0; at < input.length; i++) {
    const n = chunks[i % chunks.length]!;
    parts.push(input.subarray(at, at + n));
    at += n;
  }
  return buffer(Readable.from(parts).pipe(new ParallelGzip(level)));
}

describe('ParallelGzip', () => {
  it('writes one gzip member that gunzip and zlib read back exactly', async () => {
    const input = sample(3 * GZIP_BLOCK + 12345);
    const out = await gzip(input, [65536]);
    expect(gunzipSync(out).equals(input)).toBe(true);
    // gzip(1) checks the CRC and the length in the trailer, and refuses trailing garbage.
    const dir = mkdtempSync(join(tmpdir(), 'strata-pgz-'));
    try {
      writeFileSync(join(dir, 'x.gz'), out);
      expect(sha(execFileSync('gzip', ['-dc', join(dir, 'x.gz')], { maxBuffer: 64 << 20 }))).toBe(sha(input));
      execFileSync('gzip', ['-t', join(dir, 'x.gz')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect([...out.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
    expect(out.readUInt32LE(out.length - 4)).toBe(input.length);
  });

  it('gives the same bytes however the input is chunked', async () => {
    const input = sample(2 * GZIP_BLOCK + 777);
    const a = await gzip(input, [GZIP_BLOCK * 3]);
    const b = await gzip(input, [1, 4095, 300000, 65536]);
    expect(sha(a)).toBe(sha(b));
  });

  it('compresses across block boundaries as well as one stream does', async () => {
    // A block primed with the 32 KiB before it finds the matches a single stream would.
    const input = sample(4 * GZIP_BLOCK);
    const out = await gzip(input, [1 << 20]);
    expect(out.length).toBeLessThan(gzipSync(input, { level: 3 }).length * 1.01);
  });

  it('handles empty input, exact multiples of the block and the XFL of levels 1 and 9', async () => {
    const empty = await buffer(Readable.from([]).pipe(new ParallelGzip(3)));
    expect(gunzipSync(empty).length).toBe(0);
    const exact = sample(2 * GZIP_BLOCK);
    expect(gunzipSync(await gzip(exact, [GZIP_BLOCK])).equals(exact)).toBe(true);
    expect((await gzip(exact, [GZIP_BLOCK], 1))[8]).toBe(4);
    expect((await gzip(exact, [GZIP_BLOCK], 9))[8]).toBe(2);
  });

  it('makes each block exactly as one zlib deflate of it would, at every level', async () => {
    // The layer digests in caches and registries depend on these bytes, not only on what they inflate
    // to: however the work is split into jobs, each block must be the deflate of the block alone,
    // primed with the 32 KiB before it and ended on a sync flush (the last on a finish), and a block
    // that does not shrink must be stored as zlib stores it with 256 KiB of output at a time.
    // The first block deflates at level 3 to exactly 3 x 256 KiB before its sync-flush marker, where
    // zlib with 256 KiB of room a call writes a second marker: its bytes must keep it.
    const edge = Buffer.concat([lines(GZIP_BLOCK - 667964), pseudoRandom(667964)]);
    const blocks = [edge, randomBytes(GZIP_BLOCK), sample(GZIP_BLOCK), sample(GZIP_BLOCK), sample(300000)];
    const input = Buffer.concat(blocks);
    for (const level of [1, 3, 6, 9]) {
      const expected = blocks.map((block, i) => {
        const last = i === blocks.length - 1;
        const options = { level: i === 1 ? 0 : level, windowBits: 15, memLevel: 9, chunkSize: 256 << 10, finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH };
        // A stored block takes no dictionary, as ParallelGzip gives it none.
        return deflateRawSync(block, i > 1 ? { ...options, dictionary: blocks[i - 1]!.subarray(-32768) } : options);
      });
      if (level === 3) expect(expected[0]!.length, 'the edge block ends past a buffer').toBe(3 * (256 << 10) + 5);
      const out = await gzip(input, [100000, GZIP_BLOCK, 1], level);
      const body = out.subarray(10, out.length - 8);
      expect(body.equals(Buffer.concat(expected)), `level ${level}`).toBe(true);
    }
  });
});

/** A strata archive as what it is: one that can write itself into a sink. */
function asInline(archive: unknown): InlineArchive {
  expect(isInlineArchive(archive)).toBe(true);
  return archive as InlineArchive;
}

describe('GzipArchiveStream', () => {
  const entry = (name: string, body: Buffer) => ({ name, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1, size: body.length, body });
  const bodies = [sample(GZIP_BLOCK + 5000), Buffer.from('small'), sample(2 * GZIP_BLOCK - 700)];
  const entries = () => [entry('a', bodies[0]!), entry('b', bodies[1]!), entry('c', bodies[2]!)];

  it('writes the bytes ParallelGzip makes of the same tar, and the tar gets its digest', async () => {
    const tarBytes = await buffer(writeTar(entries()));
    const archive = writeTar(entries());
    const inline = await buffer(new GzipArchiveStream(asInline(archive), 3));
    expect(sha(inline)).toBe(sha(await gzip(tarBytes, [65536])));
    expect(gunzipSync(inline).equals(tarBytes)).toBe(true);
    expect(await archive.digest).toBe(`sha256:${sha(tarBytes)}`);
  });

  it('gives an archive written in place inside the layer its own digest, and the layer its own', async () => {
    const innerBytes = await buffer(writeTar(entries()));
    const inner = writeTar(entries());
    const layer = writeTar([entry('nested.tar', Buffer.alloc(0)), { ...entry('inner.tar', innerBytes), body: () => inner }]);
    const layerBytes = await buffer(writeTar([entry('nested.tar', Buffer.alloc(0)), entry('inner.tar', innerBytes)]));
    const gz = await buffer(new GzipArchiveStream(asInline(layer), 3));
    expect(gunzipSync(gz).equals(layerBytes)).toBe(true);
    expect(await layer.digest).toBe(`sha256:${sha(layerBytes)}`);
    expect(await inner.digest).toBe(`sha256:${sha(innerBytes)}`);
  });

  it('stops the archive when destroyed halfway, and fails its digest', async () => {
    const archive = writeTar(entries());
    const stream = new GzipArchiveStream(asInline(archive), 3);
    const first = await new Promise<Buffer>((resolve) => stream.once('data', resolve));
    expect(first[0]).toBe(0x1f);
    const failed = new Promise<Error>((resolve) => stream.once('error', resolve));
    stream.destroy(new Error('stop'));
    expect((await failed).message).toBe('stop');
    await expect(archive.digest).rejects.toThrow();
  });

  it('refuses an archive that is already being read', async () => {
    const archive = writeTar(entries());
    await new Promise((resolve) => archive.once('readable', resolve));
    const stream = new GzipArchiveStream(asInline(archive), 3);
    await expect(buffer(stream)).rejects.toThrow(/already being read/);
  });
});

describe('ParallelGzip on incompressible blocks', () => {
  it('stores random blocks, compresses the rest, and reads back exactly', async () => {
    // Random, then text, then random again: stored, compressed, stored.
    const input = Buffer.concat([randomBytes(GZIP_BLOCK), sample(GZIP_BLOCK), randomBytes(GZIP_BLOCK + 100)]);
    const out = await gzip(input, [65536]);
    expect(gunzipSync(out).equals(input)).toBe(true);
    // Stored blocks cost 5 bytes per 64 KiB: the random megabytes come out barely larger, the text much smaller.
    const randomPart = 2 * GZIP_BLOCK + 100;
    expect(out.length).toBeLessThan(randomPart * 1.001 + GZIP_BLOCK / 2);
    expect(out.length).toBeGreaterThan(randomPart);
    // Deterministic: the choice depends only on the bytes.
    expect(sha(await gzip(input, [1 << 20]))).toBe(sha(out));
  });

  it('compresses a block when any of its samples shrinks', async () => {
    // Random bytes with one compressible stretch at the second sample's offset.
    const input = randomBytes(GZIP_BLOCK);
    input.fill(7, GZIP_BLOCK / 4, GZIP_BLOCK / 4 + (16 << 10));
    const out = await gzip(input, [GZIP_BLOCK]);
    expect(gunzipSync(out).equals(input)).toBe(true);
    // Compressed, not stored: the 16 KiB run of one byte costs a few bytes instead of 16 KiB.
    expect(out.length).toBeLessThan(GZIP_BLOCK + 16);
  });

  it('sizes each sample as a one-shot deflate does, with its deflaters reset and reused', async () => {
    // Kinds that land on both sides of the 2% line, several at once so deflaters are taken and given
    // back out of order. A deflater reused without its reset would write after its end, or carry its
    // window and hash chains into the next sample and come out smaller.
    const text = sample(16 << 10);
    const kinds = (round: number): Buffer[] => [
      randomBytes(16 << 10),
      text,
      Buffer.concat([randomBytes((16 << 10) - 400 - round), Buffer.alloc(400 + round, 'a')]),
      Buffer.concat([text.subarray(0, 8 << 10), randomBytes(8 << 10)]),
      Buffer.alloc(16 << 10, round),
    ];
    for (let round = 0; round < 40; round++) {
      const inputs = kinds(round);
      const sizes = await Promise.all(inputs.map((input) => deflateSample(input)));
      expect(sizes).toEqual(inputs.map((input) => deflateRawSync(input, { level: 1, memLevel: 9 }).length));
    }
  });

  it('deflates blocks into kept buffers while streams compress, and hands out copies', async () => {
    // Three streams at once: every block's output buffer is one a job before it wrote into. Each
    // stream must still make exactly the bytes it makes alone.
    const inputs = [sample(5 * GZIP_BLOCK + 99), lines(4 * GZIP_BLOCK), Buffer.concat([sample(2 * GZIP_BLOCK), lines(GZIP_BLOCK + 7)])];
    const alone: Buffer[] = [];
    for (const input of inputs) alone.push(await gzip(input, [1 << 16]));
    expect(keptBuffers()).toEqual({ rooms: 0, samplers: 0 });

    const streams = inputs.map(() => new ParallelGzip(3));
    const outputs = streams.map((stream) => buffer(stream));
    // While the first stream is still open, its finished blocks have given their buffers back.
    streams[0]!.write(inputs[0]!.subarray(0, 3 * GZIP_BLOCK));
    // The first piece out is the header; the next is the first block's output.
    await new Promise<void>((resolve) => {
      const block = (chunk: Buffer) => {
        if (chunk.length <= 10) return;
        streams[0]!.off('data', block);
        resolve();
      };
      streams[0]!.on('data', block);
    });
    expect(keptBuffers().rooms).toBeGreaterThan(0);
    expect(keptBuffers().samplers).toBeGreaterThan(0);
    streams[0]!.end(inputs[0]!.subarray(3 * GZIP_BLOCK));
    for (let i = 1; i < inputs.length; i++) streams[i]!.end(inputs[i]);
    const together = await Promise.all(outputs);
    for (const [i, out] of together.entries()) {
      expect(sha(out)).toBe(sha(alone[i]!));
      expect(gunzipSync(out).equals(inputs[i]!)).toBe(true);
    }
    // No stream compresses any more: nothing is kept.
    expect(keptBuffers()).toEqual({ rooms: 0, samplers: 0 });
  });

  it('lends its block buffers when asked: a lent block is never written again until it is handed back', async () => {
    const inputs = [sample(6 * GZIP_BLOCK + 99), lines(5 * GZIP_BLOCK), Buffer.concat([sample(2 * GZIP_BLOCK), pseudoRandom(GZIP_BLOCK), lines(GZIP_BLOCK + 7)])];
    const alone: Buffer[] = [];
    for (const input of inputs) alone.push(await gzip(input, [1 << 16]));
    const release = (chunk: Buffer) => (chunk as unknown as Record<symbol, (() => void) | undefined>)[RELEASE];

    // Held, never handed back: every lent block must keep its bytes while the others compress.
    const held = inputs.map(() => [] as Buffer[]);
    const streams = inputs.map((input, i) => {
      const stream = new ParallelGzip(3, { lend: true });
      stream.on('data', (chunk: Buffer) => held[i]!.push(chunk));
      stream.end(input);
      return new Promise<void>((resolve, reject) => stream.once('end', resolve).once('error', reject));
    });
    await Promise.all(streams);
    let lent = 0;
    for (const [i, chunks] of held.entries()) {
      lent += chunks.filter((c) => release(c)).length;
      expect(sha(Buffer.concat(chunks))).toBe(sha(alone[i]!));
    }
    // Compressed blocks are lent; the header, the trailer and stored blocks are not.
    expect(lent).toBeGreaterThan(10);

    // Handed back as soon as each is read: the buffers go round, and the bytes stay the same.
    const stream = new ParallelGzip(3, { lend: true });
    const seen: Buffer[] = [];
    let roomsSeen = 0;
    stream.on('data', (chunk: Buffer) => {
      seen.push(Buffer.from(chunk));
      const give = release(chunk);
      give?.();
      give?.(); // a second call does nothing
      roomsSeen = Math.max(roomsSeen, keptBuffers().rooms);
    });
    stream.end(inputs[0]);
    await new Promise((resolve) => stream.once('end', resolve));
    expect(sha(Buffer.concat(seen))).toBe(sha(alone[0]!));
    expect(roomsSeen).toBeGreaterThan(0);
    // No stream compresses any more: nothing is kept, even what is handed back late.
    expect(keptBuffers()).toEqual({ rooms: 0, samplers: 0 });
    for (const chunks of held) for (const chunk of chunks) release(chunk)?.();
    expect(keptBuffers()).toEqual({ rooms: 0, samplers: 0 });
  });

  it('lends nothing unless asked', async () => {
    const stream = new ParallelGzip(3);
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.end(sample(3 * GZIP_BLOCK));
    await new Promise((resolve) => stream.once('end', resolve));
    expect(chunks.some((c) => RELEASE in c)).toBe(false);
  });
});

