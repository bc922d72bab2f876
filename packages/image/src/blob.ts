import { createHash, type Hash } from 'node:crypto';
import { pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import type { LayerCache, LayerCacheKey } from '@strata/cache';
import { type ArchiveSink, INLINE, type InlineArchive } from '@strata/layer';
import { deferred } from './_deferred.js';
import { GzipArchiveStream, isInlineArchive } from './_parallel-gzip.js';
import { type Compression, decompressor } from './compression.js';
import { ImageError } from './errors.js';
import type { Layer, LayerStream } from './layer.js';
import { compressionIdentity, type LayerCompression, layerCompressor, type ResolvedCompression, resolveCompression } from './layer-compression.js';

/** The part of a {@link LayerCache} a sink uses (injectable). */
export type LayerCacheStore = Pick<LayerCache, 'get' | 'put' | 'delete'>;

/** Options for {@link createLayerBlob}. */
export interface LayerBlobOptions extends LayerCompression {
  /** Where a layer's digest, diffID and size are looked up before reading, and recorded after. @default none */
  readonly cache?: LayerCacheStore;
  /** Told when the cache cannot be written; the blob is fine without it. @default ignored */
  readonly onCacheError?: (error: unknown) => void;
  /** How messages name the layer. @default 'layer' */
  readonly name?: string;
  /**
   * Look the blob up in the cache before reading. false only records: for a sink that cannot take
   * back bytes already written when a read finds an entry wrong. @default true
   */
  readonly lookup?: boolean;
  /** Told when a read finds the cache entry wrong (a sink may stop and start again without it). @default none */
  readonly onStale?: () => void;
}

/** How a blob is read. */
export interface OpenBlobOptions {
  /**
   * gzip output may come as lent chunks, handed on one by one, which carry a function under
   * `Symbol.for('strata.release')` that gives their memory back to the compressor: for a consumer
   * that calls it once done with each chunk (a registry upload through `@strata/registry`'s own
   * HTTP client, the blob files the OCI sinks write). A chunk never handed back is collected
   * as any other. @default false
   */
  readonly lend?: boolean;
}

/**
 * A layer in the form a sink stores it (an OCI blob): compressed as asked. Its size and digest are
 * known before reading when the layer is stored as it is and declares them, or when the cache
 * knows them; otherwise after the first read.
 */
export interface LayerBlob {
  readonly layer: Layer;
  readonly compression: Compression;
  /** Byte length of the blob, when known before reading. */
  readonly size: number | undefined;
  /** sha256 of the blob, when known before reading. */
  readonly digest: string | undefined;
  /** The layer's diffID, when known before reading. */
  readonly diffId: string | undefined;
  /** True when size and digest came from the cache (a read checks them). */
  readonly cached: boolean;
  /** True once a read found the cache entry wrong; the entry is gone, and reading this blob again fails at once. */
  readonly stale: boolean;
  /**
   * Streams the blob: its bytes are hashed once on the way (`digest`), the layer's own hash gives
   * `diffId`, and both are checked against what was known (declared or cached) before the stream
   * ends: a mismatch fails the stream with ImageError `DIGEST_MISMATCH`. A complete read is recorded
   * in the cache.
   */
  open(options?: OpenBlobOptions): LayerStream;
}

interface Known {
  size?: number | undefined;
  digest?: string | undefined;
  diffId?: string | undefined;
}

/** A stream that fails as soon as it is read (a stale blob opened again by a retry). */
function failing(error: Error): LayerStream {
  const rejected = Promise.reject(error);
  rejected.catch(() => {});
  const stream = new Readable({
    read() {
      this.destroy(error);
    },
  });
  return Object.assign(stream, { digest: rejected, diffId: rejected });
}

interface BlobStreamOptions {
  readonly name: string;
  /** The digest the source computes itself (a layer stored as it is); otherwise the blob is hashed here. */
  readonly own: Promise<string> | undefined;
  readonly diffId: Promise<string>;
  readonly expected: Known;
  /** Whether `expected` came from the cache (a mismatch then drops the entry) rather than from the image. */
  readonly cached: boolean;
  /** Called with the learnt values after a complete, checked read; may record them. */
  readonly done: (learnt: Required<Known>) => Promise<void>;
  /** Called when the cached values were wrong. */
  readonly stale: () => Promise<void>;
  /**
   * Hand the chunks on one by one, never joined: a paused reader (an async iteration) would get
   * the buffered chunks copied into one, and lent chunks (see `OpenBlobOptions.lend`) would never
   * be handed back.
   */
  readonly whole?: boolean;
}

/** The last hop of a blob: counts, hashes (unless the source does), checks and records. */
class BlobStream extends Transform {
  readonly #hash: Hash | undefined;
  readonly #digest = deferred<string>();
  readonly #diffId = deferred<string>();
  readonly digest = this.#digest.promise;
  readonly diffId = this.#diffId.promise;
  #size = 0;

  constructor(readonly o: BlobStreamOptions) {
    // Whole chunks: about the megabyte of bytes buffered otherwise (a compressed block is about half a megabyte).
    super(o.whole ? { writableHighWaterMark: 1 << 20, readableObjectMode: true, readableHighWaterMark: 2 } : { highWaterMark: 1 << 20 });
    this.#hash = o.own ? undefined : createHash('sha256');
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#size += chunk.length;
    const limit = this.o.expected.size;
    if (limit !== undefined && this.#size > limit) {
      this.#fail('size', String(limit), `more than ${limit}`).then(callback, callback);
      return;
    }
    this.#hash?.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#finish().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const reason = error ?? new Error(`${this.o.name}: stream closed before its end`);
    this.#digest.reject(reason);
    this.#diffId.reject(reason);
    callback(error);
  }

  /** Starts piping the source in, on the first read; until then the source may be written in place instead. */
  #waiting: (() => void) | undefined;

  override _read(size: number): void {
    const start = this.#waiting;
    this.#waiting = undefined;
    start?.();
    super._read(size);
  }

  /**
   * Lets a sink that takes archives in place (an outer archive) have `raw`, a layer stored as it
   * is, write itself there with no chunk between; its own digests are then checked and recorded
   * here as when its bytes stream through. `start` pipes it in instead, on the first read.
   */
  inlinable(raw: Readable & InlineArchive, start: () => void): this & InlineArchive {
    this.#waiting = start;
    return Object.assign(this, {
      size: raw.size,
      [INLINE]: (sink: ArchiveSink): Promise<void> | undefined => {
        if (this.#waiting !== start) return undefined;
        const written = raw[INLINE](sink);
        if (written === undefined) return undefined;
        this.#waiting = undefined;
        return written
          .then(() => {
            this.#size = raw.size;
            return this.#finish();
          })
          .catch((error: unknown) => {
            // Told by this promise and by the digests: a stream nobody reads has no 'error' listener.
            this.#digest.reject(error);
            this.#diffId.reject(error);
            this.destroy();
            throw error;
          });
      },
    });
  }

  async #finish(): Promise<void> {
    const digest = this.o.own ? await this.o.own : `sha256:${this.#hash!.digest('hex')}`;
    const diffId = await this.o.diffId;
    const { expected } = this.o;
    if (expected.size !== undefined && expected.size !== this.#size) throw await this.#fail('size', String(expected.size), String(this.#size));
    if (expected.digest !== undefined && expected.digest !== digest) throw await this.#fail('digest', expected.digest, digest);
    if (expected.diffId !== undefined && expected.diffId !== diffId) throw await this.#fail('diffID', expected.diffId, diffId);
    await this.o.done({ size: this.#size, digest, diffId });
    this.#digest.resolve(digest);
    this.#diffId.resolve(diffId);
  }

  async #fail(what: string, expected: string, actual: string): Promise<ImageError> {
    if (!this.o.cached) return new ImageError('DIGEST_MISMATCH', `${this.o.name}: its bytes give ${what} ${actual}, but the image declares ${expected}`);
    await this.o.stale();
    return new ImageError('DIGEST_MISMATCH', `${this.o.name}: the layer cache said ${what} ${expected}, its bytes give ${actual}; the cache entry is removed`);
  }
}

/** What the cache knows about the blob, when it agrees with what the layer declares. */
async function lookUp(layer: Layer, key: LayerCacheKey, cache: LayerCacheStore, asIs: boolean): Promise<Known | undefined> {
  const hit = await cache.get(key).catch(() => undefined);
  if (!hit) return undefined;
  const agrees = (layer.diffId === undefined || hit.diffId === layer.diffId) && (!asIs || (hit.size === layer.size && hit.digest === hit.diffId));
  if (agrees) return hit;
  await cache.delete(key).catch(() => {});
  return undefined;
}

/**
 * The blob a sink stores for `layer`, compressed as `options` say (by default, as the layer is
 * stored). A layer already in the asked compression passes as it is. With a cache and a layer that
 * has a {@link Layer.cacheKey}, the blob's digest, diffID and size are looked up first, so a sink can
 * HEAD-check it without reading; a read checks them and records what it learnt.
 * @example
 * const blob = await createLayerBlob(layer, { compression: 'gzip', cache: new LayerCache() });
 * blob.digest; // known when cached
 * const stream = blob.open(); // gzip bytes; await stream.digest, stream.diffId after the end
 */
export async function createLayerBlob(layer: Layer, options: LayerBlobOptions = {}): Promise<LayerBlob> {
  const target: ResolvedCompression = resolveCompression({ compression: options.compression ?? layer.compression, ...(options.level === undefined ? {} : { level: options.level }) });
  const asIs = target.compression === layer.compression;
  const name = options.name ?? 'layer';
  const { cache } = options;
  // A compressed layer passed as it is has the bytes it has: nothing to look up by content. The key
  // is asked for only with a cache: a store layer's hashes every entry of its plan.
  const cacheKey = cache === undefined ? undefined : layer.cacheKey;
  const key = cacheKey !== undefined && (!asIs || layer.compression === 'none') ? { layer: cacheKey, compression: compressionIdentity(target) } : undefined;
  let known: Known = asIs ? { size: layer.size, digest: layer.digest, diffId: layer.diffId } : { diffId: layer.diffId };
  let cached = false;
  if (key && cache && options.lookup !== false && (known.digest === undefined || known.diffId === undefined)) {
    const hit = await lookUp(layer, key, cache, asIs);
    if (hit) {
      known = hit;
      cached = true;
    }
  }
  let stale = false;
  const blob: LayerBlob = {
    layer,
    compression: target.compression,
    get size() {
      return known.size;
    },
    get digest() {
      return known.digest;
    },
    get diffId() {
      return known.diffId;
    },
    get cached() {
      return cached;
    },
    get stale() {
      return stale;
    },
    open(openOptions: OpenBlobOptions = {}): LayerStream {
      const lend = openOptions.lend === true;
      if (stale) return failing(new ImageError('DIGEST_MISMATCH', `${name}: the layer cache entry was wrong; read the layer again without it`));
      const raw = layer.open();
      const out = new BlobStream({
        name,
        own: asIs ? raw.digest : undefined,
        diffId: raw.diffId,
        expected: cached ? known : asIs ? {} : { diffId: layer.diffId },
        cached,
        done: async (learnt) => {
          if (cached || !key || !cache) return;
          await cache.put(key, learnt).catch((error: unknown) => options.onCacheError?.(error));
        },
        whole: lend,
        stale: async () => {
          stale = true;
          if (key && cache) await cache.delete(key).catch(() => {});
          options.onStale?.();
        },
      });
      const stages: NodeJS.ReadWriteStream[] = [];
      let source: NodeJS.ReadableStream = raw;
      if (!asIs && layer.compression === 'none' && target.compression === 'gzip' && isInlineArchive(raw)) {
        // strata's own layer tar writes itself into the gzip blocks: no chunk between them.
        source = new GzipArchiveStream(raw, target.level, { lend });
        source.once('close', () => raw.destroy());
      } else if (!asIs) {
        if (layer.compression !== 'none') stages.push(decompressor(layer.compression));
        stages.push(layerCompressor(target, { lend }));
      }
      const start = () =>
        pipeline([source, ...stages, out] as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream], (error) => {
          if (error && !out.destroyed) out.destroy(error);
        });
      if (asIs && layer.compression === 'none' && isInlineArchive(raw)) {
        // Stored as it is: an outer archive may have it write itself in place.
        out.once('close', () => raw.destroy());
        return out.inlinable(raw, start);
      }
      start();
      return out;
    },
  };
  return blob;
}
