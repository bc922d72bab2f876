import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { LayerCacheEntry, LayerCacheKey } from '@strata/cache';
import { INLINE, writeTar } from '@strata/layer';
import { createZstdDecompress } from '@strata/manifest';
import { describe, expect, it } from 'vitest';
import { createLayerBlob, type LayerCacheStore } from './blob.js';
import { createLayer } from './layer.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
// Compressible but not trivial: a layer-like mix of text and binary.
const tar = Buffer.concat(Array.from({ length: 3000 }, (_, i) => Buffer.from(`file ${i} ${(i * 2654435761) % 9973} lorem ipsum\n`)));

function storeLayer(reads: { count: number }, bytes = tar, cacheKey = 'store-test:1') {
  return createLayer({
    size: bytes.length,
    cacheKey,
    open: () => {
      reads.count++;
      // A strata layer hashes itself, as packLayer does.
      return Object.assign(Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]), { digest: Promise.resolve(sha(bytes)) });
    },
  });
}

class MemoryCache implements LayerCacheStore {
  readonly entries = new Map<string, LayerCacheEntry>();
  k(key: LayerCacheKey) {
    return `${key.layer}|${key.compression}`;
  }
  async get(key: LayerCacheKey) {
    return this.entries.get(this.k(key));
  }
  async put(key: LayerCacheKey, entry: LayerCacheEntry) {
    this.entries.set(this.k(key), entry);
  }
  async delete(key: LayerCacheKey) {
    this.entries.delete(this.k(key));
  }
}

async function read(stream: Readable & { digest: Promise<string>; diffId: Promise<string> }) {
  const bytes = await buffer(stream);
  return { bytes, digest: await stream.digest, diffId: await stream.diffId };
}

describe('createLayerBlob', () => {
  it('gzips deterministically: no name, mtime 0, OS Unix; digest of the gzip bytes, diffID of the tar', async () => {
    const one = await read((await createLayerBlob(storeLayer({ count: 0 }), { compression: 'gzip' })).open());
    const two = await read((await createLayerBlob(storeLayer({ count: 0 }), { compression: 'gzip' })).open());
    expect(one.bytes.equals(two.bytes)).toBe(true);
    expect([...one.bytes.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
    expect(gunzipSync(one.bytes).equals(tar)).toBe(true);
    expect(one.digest).toBe(sha(one.bytes));
    expect(one.diffId).toBe(sha(tar));
    const nine = await read((await createLayerBlob(storeLayer({ count: 0 }), { compression: 'gzip', level: 9 })).open());
    expect(nine.bytes.length).toBeLessThanOrEqual(one.bytes.length);
    expect(gunzipSync(nine.bytes).equals(tar)).toBe(true);
  });

  it('lends its gzip blocks to a reader that asks, one chunk at a time, to the same bytes', async () => {
    const big = Buffer.concat(Array.from({ length: 300_000 }, (_, i) => Buffer.from(`entry ${i} ${(i * 2654435761) % 99991} ${'x'.repeat(i % 13)}\n`)));
    const plain = await read((await createLayerBlob(storeLayer({ count: 0 }, big), { compression: 'gzip' })).open());
    const stream = (await createLayerBlob(storeLayer({ count: 0 }, big), { compression: 'gzip' })).open({ lend: true });
    const chunks: Buffer[] = [];
    let lent = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      // A slow reader: the stream buffers several blocks meanwhile, and must not join them.
      await new Promise((resolve) => setTimeout(resolve, 5));
      chunks.push(Buffer.from(chunk));
      const give = (chunk as unknown as Record<symbol, (() => void) | undefined>)[Symbol.for('strata.release')];
      if (give) lent++;
      else expect(chunk.length).toBeLessThanOrEqual(10); // the header and the trailer are the gzip stream's own
      give?.();
    }
    expect(lent).toBeGreaterThan(6);
    expect(Buffer.concat(chunks).equals(plain.bytes)).toBe(true);
    expect(await stream.digest).toBe(plain.digest);
  });

  it('compresses zstd with the same bytes every time, and they decompress to the tar', async () => {
    const one = await read((await createLayerBlob(storeLayer({ count: 0 }), { compression: 'zstd' })).open());
    const two = await read((await createLayerBlob(storeLayer({ count: 0 }), { compression: 'zstd', level: 3 })).open());
    expect(one.bytes.equals(two.bytes)).toBe(true);
    expect([...one.bytes.subarray(0, 4)]).toEqual([0x28, 0xb5, 0x2f, 0xfd]);
    expect((await buffer(Readable.from([one.bytes]).pipe(createZstdDecompress()))).equals(tar)).toBe(true);
    expect(one.diffId).toBe(sha(tar));
    expect(one.digest).toBe(sha(one.bytes));
  });

  it('recompresses a gzip layer as zstd, and passes one already in the asked compression as it is', async () => {
    const gz = gzipSync(tar, { level: 1 });
    const gzLayer = () => createLayer({ size: gz.length, compression: 'gzip', diffId: sha(tar), open: () => Readable.from([gz]) });
    const asIs = await createLayerBlob(gzLayer(), { compression: 'gzip', level: 9 });
    expect(asIs.size).toBe(gz.length);
    expect((await read(asIs.open())).bytes.equals(gz)).toBe(true);
    const zst = await read((await createLayerBlob(gzLayer(), { compression: 'zstd' })).open());
    expect(zst.diffId).toBe(sha(tar));
    expect((await buffer(Readable.from([zst.bytes]).pipe(createZstdDecompress()))).equals(tar)).toBe(true);
  });

  it('refuses a level that does not fit the compression, naming it', async () => {
    await expect(createLayerBlob(storeLayer({ count: 0 }), { compression: 'gzip', level: 12 })).rejects.toThrow('compression level: gzip takes 1 to 9, got 12');
    await expect(createLayerBlob(storeLayer({ count: 0 }), { compression: 'none', level: 3 })).rejects.toThrow(/take no level/);
  });

  it('asks a layer for its cache key only with a cache, and once', async () => {
    let asked = 0;
    const layer = createLayer({
      size: tar.length,
      get cacheKey() {
        asked++;
        return 'store-test:lazy';
      },
      open: () => Object.assign(Readable.from([tar]), { digest: Promise.resolve(sha(tar)) }),
    });
    expect(asked).toBe(0);
    const plain = await createLayerBlob(layer, { compression: 'gzip' });
    expect(gunzipSync(await buffer(plain.open()))).toEqual(tar);
    expect(asked).toBe(0);
    const cache = new MemoryCache();
    const cached = await createLayerBlob(layer, { compression: 'gzip', cache });
    await buffer(cached.open());
    expect(layer.cacheKey).toBe('store-test:lazy');
    expect(asked).toBe(1);
    expect([...cache.entries.keys()]).toEqual([expect.stringMatching(/^store-test:lazy\|gzip-/)]);
  });

  it('records what a read learnt, and knows it next time without reading', async () => {
    const cache = new MemoryCache();
    const reads = { count: 0 };
    const first = await createLayerBlob(storeLayer(reads), { compression: 'gzip', cache });
    expect(first.digest).toBeUndefined();
    const got = await read(first.open());
    const [entry] = cache.entries.values();
    expect(entry).toEqual({ diffId: sha(tar), digest: got.digest, size: got.bytes.length });
    const second = await createLayerBlob(storeLayer(reads), { compression: 'gzip', cache });
    expect({ digest: second.digest, diffId: second.diffId, size: second.size, cached: second.cached }).toEqual({ ...entry, cached: true });
    expect(reads.count).toBe(1);
    // Another level is another entry.
    expect((await createLayerBlob(storeLayer(reads), { compression: 'gzip', level: 1, cache })).digest).toBeUndefined();
  });

  it('fails a read that contradicts its cache entry, drops the entry, and fails again at once if opened again', async () => {
    const cache = new MemoryCache();
    await read((await createLayerBlob(storeLayer({ count: 0 }), { compression: 'gzip', cache })).open());
    const [k, entry] = [...cache.entries.entries()][0]!;
    for (const wrong of [{ digest: `sha256:${'7'.repeat(64)}` }, { size: entry.size - 1 }, { size: entry.size + 1 }, { diffId: `sha256:${'8'.repeat(64)}` }]) {
      cache.entries.set(k, { ...entry, ...wrong });
      const blob = await createLayerBlob(storeLayer({ count: 0 }), { compression: 'gzip', cache });
      expect(blob.cached).toBe(true);
      await expect(read(blob.open())).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringMatching(/^layer: the layer cache said .* the cache entry is removed$/) });
      expect(blob.stale).toBe(true);
      expect(cache.entries.size).toBe(0);
      await expect(read(blob.open())).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    }
  });

  it('ignores, and drops, an entry that contradicts the diffID the image declares', async () => {
    const declared = createLayer({ size: tar.length, diffId: sha(tar), open: () => Readable.from([tar]) });
    const lying = new MemoryCache();
    lying.get = async () => ({ diffId: `sha256:${'9'.repeat(64)}`, digest: `sha256:${'a'.repeat(64)}`, size: 10 });
    let deleted = 0;
    lying.delete = async () => {
      deleted++;
    };
    const blob = await createLayerBlob(declared, { compression: 'gzip', cache: lying });
    expect(blob.digest).toBeUndefined();
    expect(blob.diffId).toBe(sha(tar));
    expect(deleted).toBe(1);
  });

  it('keeps going when the cache cannot be written, and says so', async () => {
    const errors: unknown[] = [];
    const broken = new MemoryCache();
    broken.put = async () => {
      throw new Error('read-only file system');
    };
    const got = await read((await createLayerBlob(storeLayer({ count: 0 }), { compression: 'gzip', cache: broken, onCacheError: (e) => errors.push(e) })).open());
    expect(gunzipSync(got.bytes).equals(tar)).toBe(true);
    expect(errors).toHaveLength(1);
  });

  describe('a layer stored as it is, in an outer archive', () => {
    const files = Array.from({ length: 40 }, (_, i) => Buffer.from(`file ${i} `.repeat(1000 + i * 97)));
    const entries = () => files.map((body, i) => ({ name: `f${i}`, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1, size: body.length, body }));
    const ownTar = () => createLayer({ size: writeTar(entries()).size, cacheKey: 'own-tar:1', open: () => writeTar(entries()) });
    /** An outer archive (unhashed, as docker and OCI archives are) holding the blob as its one member, and that member's bytes back. */
    const outer = async (blob: Awaited<ReturnType<typeof createLayerBlob>>) => {
      const stream = blob.open();
      const bytes = await buffer(writeTar([{ name: 'layer.tar', type: 'file', mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: 1, size: blob.size!, body: () => stream }], { digest: false }));
      return { stream, member: bytes.subarray(512, 512 + blob.size!) };
    };

    it('writes itself in place, to the same bytes and digests as when it is read, and records them', async () => {
      const streamed = await read((await createLayerBlob(ownTar())).open());
      const cache = new MemoryCache();
      const blob = await createLayerBlob(ownTar(), { cache });
      expect(INLINE in blob.open()).toBe(true);
      const { stream, member } = await outer(blob);
      expect(member.equals(streamed.bytes)).toBe(true);
      expect(await stream.digest).toBe(streamed.digest);
      expect(await stream.diffId).toBe(sha(streamed.bytes));
      expect([...cache.entries.values()]).toEqual([{ size: streamed.bytes.length, digest: streamed.digest, diffId: streamed.digest }]);
    });

    it('fails the outer archive when the bytes written in place contradict the cache, and drops the entry', async () => {
      const cache = new MemoryCache();
      await read((await createLayerBlob(ownTar(), { cache })).open());
      const [k, entry] = [...cache.entries.entries()][0]!;
      cache.entries.set(k, { ...entry, digest: `sha256:${'6'.repeat(64)}`, diffId: `sha256:${'6'.repeat(64)}` });
      const blob = await createLayerBlob(ownTar(), { cache });
      expect(blob.cached).toBe(true);
      await expect(outer(blob)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringMatching(/^layer: the layer cache said digest sha256:6+, its bytes give .* the cache entry is removed$/) });
      expect(cache.entries.size).toBe(0);
    });
  });
});
