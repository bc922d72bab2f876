import { createHash, type Hash } from 'node:crypto';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { type ArchiveSink, INLINE, type InlineArchive } from '@strata/layer';
import { type Compression, decompressor } from './compression.js';
import { deferred, quiet } from './_deferred.js';
import { ImageError } from './errors.js';
import { isInlineArchive } from './_parallel-gzip.js';

/** The bytes of one layer being read: a Node Readable that hashes them once on the way. */
export interface LayerStream extends Readable {
  /** sha256 (`sha256:<hex>`) of the bytes this stream yields; resolves after the last byte. */
  readonly digest: Promise<string>;
  /** sha256 of the uncompressed tar (the diffID); the same as `digest` for an uncompressed layer. */
  readonly diffId: Promise<string>;
}

/**
 * One layer of an image: it knows its size before any byte is read, its digests once they are
 * known (declared by a base image or a cache, or learnt by an earlier complete read), and it can be
 * opened, again, to stream its bytes.
 */
export interface Layer {
  /** Exact byte length of what `open()` yields. */
  readonly size: number;
  /** How the bytes `open()` yields are compressed. */
  readonly compression: Compression;
  /** The diffID (sha256 of the uncompressed tar) when known without reading; else undefined. */
  readonly diffId: string | undefined;
  /** sha256 of the bytes `open()` yields when known without reading; else undefined. */
  readonly digest: string | undefined;
  /**
   * What identifies the layer's uncompressed content without reading it, for a layer cache: a hash
   * of the layer's inputs (a store layer: its entries and store paths' NAR hashes), or
   * `diffid:<diffID>` when the diffID is known. Undefined when nothing but reading can tell.
   */
  readonly cacheKey?: string;
  /**
   * Opens the bytes. Declared digests are checked on the way: a mismatch fails the stream (with an
   * ImageError `DIGEST_MISMATCH` naming the layer) instead of ending it, so no sink completes with
   * bytes that contradict the image's config.
   */
  open(): LayerStream;
}

/** Where a layer's bytes come from, for {@link createLayer}. */
export interface LayerSource {
  /** Exact byte length of what `open()` yields. */
  readonly size: number;
  /** @default 'none' */
  readonly compression?: Compression;
  /** The diffID the image declares; checked when the layer is read. @default unknown */
  readonly diffId?: string;
  /** The digest of the stored bytes, when declared; checked when read. @default unknown */
  readonly digest?: string;
  /**
   * Opens the bytes. A stream that carries `digest: Promise<string>` (a strata layer tar hashes
   * itself as it is written) is not hashed again.
   */
  open(): Readable & { readonly digest?: Promise<string> };
  /** How messages name the layer. @default 'layer' */
  readonly name?: string;
  /**
   * See {@link Layer.cacheKey}. Read once, when a sink first asks for the layer's key: a getter here
   * defers a key that costs work (hashing every entry of a plan) until a cache wants it.
   * @default `diffid:<diffId>` when the diffID is declared, else none
   */
  readonly cacheKey?: string;
}

function sha256(hash: Hash): string {
  return `sha256:${hash.digest('hex')}`;
}

function mismatch(name: string, what: string, expected: string, actual: string): ImageError {
  return new ImageError('DIGEST_MISMATCH', `${name}: its bytes hash to ${actual}, but the image declares ${what} ${expected}`);
}

/**
 * Hashes the bytes that pass (unless the source hashes itself), and the decompressed bytes when the
 * layer is compressed, then checks both against what was declared before letting the stream end.
 */
class VerifyingStream extends Transform {
  readonly #hash: Hash | undefined;
  readonly #inflate: NodeJS.ReadWriteStream | undefined;
  readonly #inflated = createHash('sha256');
  readonly #inflateDone: Promise<void> | undefined;
  readonly #digest = deferred<string>();
  readonly #diffId = deferred<string>();
  readonly digest = this.#digest.promise;
  readonly diffId = this.#diffId.promise;

  constructor(
    readonly source: LayerSource,
    readonly own: Promise<string> | undefined,
  ) {
    super({ highWaterMark: 1 << 20 });
    this.#hash = own ? undefined : createHash('sha256');
    const compression = source.compression ?? 'none';
    if (compression !== 'none') {
      this.#inflate = decompressor(compression);
      this.#inflate.on('data', (chunk: Buffer) => this.#inflated.update(chunk));
      this.#inflateDone = quiet(
        new Promise<void>((resolve, reject) => {
          this.#inflate!.once('end', resolve);
          this.#inflate!.once('error', (e: Error) => {
            const error = new ImageError('INVALID_IMAGE', `${source.name ?? 'layer'}: cannot decompress (${compression}): ${e.message}`, { cause: e });
            reject(error);
            // A write may be waiting for a 'drain' that will never come.
            this.destroy(error);
          });
        }),
      );
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash?.update(chunk);
    if (this.#inflate && !this.#inflate.write(chunk)) {
      // Decompressing runs on the thread pool; wait for it rather than queue the whole layer.
      this.#inflate.once('drain', () => callback(null, chunk));
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#finish().then(
      () => callback(),
      (error: unknown) => callback(error as Error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const reason = error ?? new Error(`${this.source.name ?? 'layer'}: stream closed before its end`);
    this.#digest.reject(reason);
    this.#diffId.reject(reason);
    (this.#inflate as unknown as Readable | undefined)?.destroy();
    callback(error);
  }

  async #finish(): Promise<void> {
    const name = this.source.name ?? 'layer';
    const digest = this.own ? await this.own : sha256(this.#hash!);
    if (this.source.digest !== undefined && this.source.digest !== digest) {
      // An uncompressed layer's digest is its diffID: say so, as its image declares it.
      throw mismatch(name, this.#inflate ? 'digest' : 'diffID', this.source.digest, digest);
    }
    let diffId = digest;
    if (this.#inflate) {
      this.#inflate.end();
      await this.#inflateDone;
      diffId = sha256(this.#inflated);
    }
    if (this.source.diffId !== undefined && this.source.diffId !== diffId) throw mismatch(name, 'diffID', this.source.diffId, diffId);
    this.#digest.resolve(digest);
    this.#diffId.resolve(diffId);
  }

  /** The source, piped in on the first read; until then it may still be written in place instead. */
  #waiting: Readable | undefined;

  override _read(size: number): void {
    const source = this.#waiting;
    this.#waiting = undefined;
    source?.pipe(this);
    super._read(size);
  }

  /**
   * Waits to pipe `raw` until this stream is read, and meanwhile lets a sink that takes archives in
   * place have `raw` write itself there (see {@link InlineArchive}), with the bytes hashed by the
   * sink and checked here as when they stream through. Only for an uncompressed source that does
   * not hash itself.
   */
  static inlinable(verifying: VerifyingStream, raw: Readable & InlineArchive): VerifyingStream & InlineArchive {
    verifying.#waiting = raw;
    return Object.assign(verifying, {
      size: raw.size,
      [INLINE]: (sink: ArchiveSink): Promise<void> | undefined => {
        if (verifying.#waiting !== raw) return undefined;
        sink.beginDigest(raw.size);
        const written = raw[INLINE](sink);
        if (written === undefined) {
          // raw started streaming by another way after all: nothing was committed, the digest is void.
          void sink.endDigest().catch(() => {});
          return undefined;
        }
        verifying.#waiting = undefined;
        return written
          .then(() => sink.endDigest())
          .then((digest) => verifying.#settle(digest))
          .catch((error: unknown) => {
            // The sink is told by this promise; the stream's own readers by its digests. Nobody
            // listens to a stream that was never read, so it is closed without an 'error' event.
            verifying.#digest.reject(error);
            verifying.#diffId.reject(error);
            verifying.destroy();
            throw error;
          });
      },
    });
  }

  /** The digest of bytes written in place, checked as #finish checks those that streamed. */
  #settle(digest: string): void {
    const name = this.source.name ?? 'layer';
    if (this.source.digest !== undefined && this.source.digest !== digest) throw mismatch(name, 'diffID', this.source.digest, digest);
    if (this.source.diffId !== undefined && this.source.diffId !== digest) throw mismatch(name, 'diffID', this.source.diffId, digest);
    this.#digest.resolve(digest);
    this.#diffId.resolve(digest);
  }
}

/**
 * Makes a {@link Layer} of a source: every `open()` hashes the bytes once (or takes the hash the
 * source computes itself), checks them against the declared digests, and after the first complete
 * read the layer knows its digests without reading again.
 * @example
 * const layer = createLayer({ size: plan.size, open: () => packLayer(plan) });
 * await pipeline(layer.open(), createWriteStream('layer.tar'));
 * layer.diffId; // sha256:… (learnt)
 */
export function createLayer(source: LayerSource): Layer {
  const compression = source.compression ?? 'none';
  let learnt: { digest: string; diffId: string } | undefined;
  const declaredDigest = source.digest ?? (compression === 'none' ? source.diffId : undefined);
  const declaredDiffId = source.diffId ?? (compression === 'none' ? source.digest : undefined);
  let cacheKey: { value: string | undefined } | undefined;
  return {
    size: source.size,
    compression,
    get cacheKey() {
      cacheKey ??= { value: source.cacheKey ?? (declaredDiffId === undefined ? undefined : `diffid:${declaredDiffId}`) };
      return cacheKey.value;
    },
    get diffId() {
      return declaredDiffId ?? learnt?.diffId;
    },
    get digest() {
      return declaredDigest ?? learnt?.digest;
    },
    open(): LayerStream {
      const raw = source.open();
      const own = raw.digest instanceof Promise ? raw.digest : undefined;
      let stream: LayerStream;
      if (own && compression === 'none' && declaredDigest === undefined) {
        // A strata layer tar hashes itself and declares nothing to check: no extra hop.
        stream = Object.assign(raw, { digest: own, diffId: own }) as LayerStream;
      } else {
        const verifying = new VerifyingStream({ ...source, ...(declaredDigest ? { digest: declaredDigest } : {}), ...(declaredDiffId ? { diffId: declaredDiffId } : {}) }, own);
        raw.once('error', (error) => verifying.destroy(error));
        verifying.once('close', () => raw.destroy());
        if (compression === 'none' && own === undefined && isInlineArchive(raw)) {
          // An archive's member, say: a sink may have it read straight into its memory.
          stream = VerifyingStream.inlinable(verifying, raw as Readable & InlineArchive) as unknown as LayerStream;
        } else {
          stream = raw.pipe(verifying) as unknown as LayerStream;
        }
      }
      void Promise.all([stream.digest, stream.diffId]).then(
        ([digest, diffId]) => {
          learnt = { digest, diffId };
        },
        () => {},
      );
      return stream;
    },
  };
}
