import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ImageError } from './errors.js';
import { createLayer } from './layer.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const bytes = Buffer.from('a layer tar, or close enough for hashing '.repeat(1000));

function counting(data: Buffer) {
  const opened = { count: 0 };
  return { opened, open: () => {
      opened.count++;
      return Readable.from([data.subarray(0, 7), data.subarray(7)]);
    }, };
}

describe('createLayer', () => {
  it('hashes the bytes on the way and knows its digests after the first complete read', async () => {
    const source = counting(bytes);
    const layer = createLayer({ size: bytes.length, open: source.open });
    expect(layer.diffId).toBeUndefined();
    const stream = layer.open();
    expect((await buffer(stream)).equals(bytes)).toBe(true);
    expect(await stream.digest).toBe(sha(bytes));
    expect(await stream.diffId).toBe(sha(bytes));
    await new Promise((r) => setImmediate(r));
    expect(layer.diffId).toBe(sha(bytes));
    expect(layer.digest).toBe(sha(bytes));
    expect(source.opened.count).toBe(1);
  });

  it('fails the stream instead of ending it when the bytes contradict the declared diffID', async () => {
    const declared = `sha256:${'2'.repeat(64)}`;
    const layer = createLayer({ size: bytes.length, diffId: declared, open: counting(bytes).open, name: 'base.tar: layer 3' });
    const error = await buffer(layer.open()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageError);
    expect((error as ImageError).code).toBe('DIGEST_MISMATCH');
    expect((error as ImageError).message).toBe(`base.tar: layer 3: its bytes hash to ${sha(bytes)}, but the image declares diffID ${declared}`);
  });

  it('checks a gzip layer against the diffID of its decompressed bytes, and reports both digests', async () => {
    const gz = gzipSync(bytes);
    const good = createLayer({ size: gz.length, compression: 'gzip', diffId: sha(bytes), open: counting(gz).open });
    const stream = good.open();
    expect((await buffer(stream)).equals(gz)).toBe(true);
    expect(await stream.digest).toBe(sha(gz));
    expect(await stream.diffId).toBe(sha(bytes));
    const bad = createLayer({ size: gz.length, compression: 'gzip', diffId: sha(gz), open: counting(gz).open });
    await expect(buffer(bad.open())).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
  });

  it('fails naming the layer when gzip bytes do not decompress', async () => {
    const broken = gzipSync(bytes).subarray(0, 100); // cut short
    const layer = createLayer({ size: broken.length, compression: 'gzip', diffId: sha(bytes), open: counting(broken).open, name: 'layer 1' });
    await expect(buffer(layer.open())).rejects.toMatchObject({ code: 'INVALID_IMAGE', message: expect.stringMatching(/^layer 1: cannot decompress/) });
  });

  it('fails, and does not hang, when gzip bytes are corrupt in the middle of a large layer', async () => {
    const big = Buffer.alloc(8 << 20);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    const gz = gzipSync(big);
    gz.fill(0xff, gz.length >> 1, (gz.length >> 1) + 64);
    const layer = createLayer({ size: gz.length, compression: 'gzip', diffId: sha(big), open: () => Readable.from([gz]), name: 'layer 2' });
    await expect(buffer(layer.open())).rejects.toMatchObject({ message: expect.stringMatching(/^layer 2: /) });
  });

  it('passes a stream that hashes itself through untouched, taking its digest', async () => {
    const own = Object.assign(Readable.from([bytes]), { digest: Promise.resolve(sha(bytes)) });
    const layer = createLayer({ size: bytes.length, open: () => own });
    const stream = layer.open();
    expect(stream).toBe(own);
    expect(await stream.diffId).toBe(sha(bytes));
    await buffer(stream);
  });

  it('checks a self-hashing stream against a declared digest (a cached one may be stale)', async () => {
    const own = () => Object.assign(Readable.from([bytes]), { digest: Promise.resolve(sha(bytes)) });
    const stale = createLayer({ size: bytes.length, diffId: `sha256:${'3'.repeat(64)}`, open: own });
    await expect(buffer(stale.open())).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
  });

  it('rejects its digest promises when the stream is torn down early', async () => {
    const layer = createLayer({ size: bytes.length, diffId: sha(bytes), open: counting(bytes).open });
    const stream = layer.open();
    stream.on('error', () => {});
    stream.destroy(new Error('consumer went away'));
    await expect(stream.digest).rejects.toThrow('consumer went away');
    expect(layer.diffId).toBe(sha(bytes)); // declared, still known
  });
});
