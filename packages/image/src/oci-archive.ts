import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type TarEntry, type TarHeader, type TarStream, tarSize, writeTar } from '@strata/layer';
import { type Descriptor, MediaType } from '@strata/registry';
import { indexEntries, OCI_LAYOUT_FILE, ociIndexBytes, ociLayerType, ociManifestBytes, PLACEHOLDER_DIGEST, sha256 } from './_oci.js';
import { deferred } from './_deferred.js';
import { writeBlobFile } from './_blob-file.js';
import { forEachParallel } from './_parallel.js';
import { createLayerBlob, type LayerBlob, type LayerCacheStore } from './blob.js';
import type { Image } from './image.js';
import type { LayerCompression } from './layer-compression.js';

/** Options for {@link writeOciArchive}. */
export interface WriteOciArchiveOptions extends LayerCompression {
  /** Records each layer's digests for later pushes (never consulted: an archive cannot take back bytes). @default none */
  readonly cache?: LayerCacheStore;
  readonly onCacheError?: (error: unknown) => void;
  /** Layers compressed at once (into temporary files) before the archive is written. @default 4 */
  readonly concurrency?: number;
  /** Where compressed layers wait for the archive. @default os.tmpdir() */
  readonly spoolDirectory?: string;
  /** mtime of the archive's own members, seconds since the epoch. @default image.mtime, else 1 */
  readonly mtime?: number;
  /** Aborts; the stream is destroyed with the abort reason and temporary files are removed. @default none */
  readonly signal?: AbortSignal;
  /** Told when layer `index` (0-based) starts streaming. @default none */
  readonly onLayer?: (index: number) => void;
}

/** What an OCI sink wrote. */
export interface OciImageWritten {
  /** The image manifest's descriptor (its digest names the image in the layout). */
  readonly manifest: Descriptor;
  /** The image ID: the config's digest. */
  readonly imageId: string;
}

/** An OCI archive being written; `image` resolves once the index has been written. */
export interface OciArchiveStream extends Readable {
  readonly image: Promise<OciImageWritten>;
  /**
   * Writes the archive to an open descriptor (a file, a pipe) instead of being read as a stream,
   * as a docker-archive does (TarStream.writeToFd): one reused buffer, hashed on a worker thread,
   * written out by the thread pool. Use it instead of reading the stream; the descriptor is left
   * open. Rejects with the write's error or the abort reason.
   */
  writeToFd(fd: number, options?: { readonly onProgress?: (bytes: number) => void }): Promise<void>;
}

/** The stream of an OCI archive: nothing is read or compressed until it is read (or written to a descriptor). */
class OciArchiveOut extends PassThrough {
  readonly #start: () => void;
  constructor(start: () => void) {
    super({ highWaterMark: 1 << 20 });
    this.#start = start;
  }
  override _read(size: number): void {
    this.#start();
    super._read(size);
  }
}

/** How one layer goes into the archive. */
type Placement =
  /**
   * Known size: written under its position, then linked under its digest. Also when the digest is
   * known already (declared, or learnt by an earlier read), so the archive does not depend on that.
   */
  | { kind: 'linked'; blob: LayerBlob; size: number; member: string }
  /** Compressed here (size unknown beforehand): spooled to a file first, then written under its digest. */
  | { kind: 'spooled'; file: string; digest: string; diffId: string; size: number };

function header(name: string, type: TarHeader['type'], size: number, mtime: number, linkname?: string): TarHeader {
  const mode = type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644;
  return { name, type, mode, uid: 0, gid: 0, uname: '', gname: '', mtime, size, ...(linkname ? { linkname } : {}) };
}

const blobName = (digest: string) => `blobs/sha256/${digest.slice('sha256:'.length)}`;

/** Compresses the layers whose size is unknown into `dir`, several at once and the biggest first; the others are placed as they are. */
async function place(blobs: readonly LayerBlob[], dir: string, options: WriteOciArchiveOptions, outer: AbortSignal): Promise<Placement[]> {
  return forEachParallel(blobs, options.concurrency ?? 4, outer, async (blob, i, signal): Promise<Placement> => {
    if (blob.size !== undefined) return { kind: 'linked', blob, size: blob.size, member: `layers/${String(i + 1).padStart(3, '0')}.tar` };
    options.onLayer?.(i);
    const file = join(dir, String(i));
    const stream = blob.open({ lend: true });
    await writeBlobFile(stream, file, signal);
    return { kind: 'spooled', file, digest: await stream.digest, diffId: await stream.diffId, size: (await stat(file)).size };
  }, (blob) => (blob.size === undefined ? blob.layer.size : 0));
}

/**
 * The OCI archive sink (`podman load`, `skopeo copy oci-archive:`): a tar of an OCI image layout
 * (`oci-layout`, `index.json` naming the image, `blobs/sha256/…`, OCI media types). Each layer is
 * read once. Member names need a digest before the bytes: a layer stored as it is (uncompressed)
 * is written under its position (`layers/001.tar`) and linked from `blobs/sha256/<digest>` by a
 * symlink member once its bytes have passed (an extracted layout resolves it; containerd's importer
 * follows such links too); layers compressed here, whose size is not known either, are compressed
 * in parallel into temporary files first, then written under their digest. Nothing is read before
 * the stream is (or {@link OciArchiveStream.writeToFd} is called).
 * @example
 * await pipeline(writeOciArchive(image, { compression: 'gzip' }), createWriteStream('hello.oci.tar'));
 */
export function writeOciArchive(image: Image, options: WriteOciArchiveOptions = {}): OciArchiveStream {
  const written = deferred<OciImageWritten>();
  const abort = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, abort.signal]) : abort.signal;
  let started = false;
  const out = new OciArchiveOut(() => {
    if (started) return;
    started = true;
    withArchive(image, options, signal, written.resolve, (tar) => pipeline(tar, out, { signal })).catch((error: unknown) => {
      written.reject(error);
      out.destroy(error as Error);
    });
  });
  out.once('close', () => abort.abort(new Error('OCI archive: the reader went away')));
  const writeToFd = async (fd: number, fdOptions: { readonly onProgress?: (bytes: number) => void } = {}): Promise<void> => {
    if (started) throw new Error('writeToFd: the OCI archive is already being read');
    started = true;
    try {
      await withArchive(image, options, signal, written.resolve, (tar) => tar.writeToFd(fd, fdOptions.onProgress ? { onProgress: fdOptions.onProgress } : {}));
    } catch (error) {
      written.reject(error);
      throw error;
    }
  };
  return Object.assign(out, { image: written.promise, writeToFd });
}

/** Makes the layout's tar (compressing the layers that need it into a spool first), hands it to `use`, then removes the spool. */
async function withArchive(image: Image, options: WriteOciArchiveOptions, signal: AbortSignal, done: (w: OciImageWritten) => void, use: (tar: TarStream) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(options.spoolDirectory ?? tmpdir(), 'strata-oci-'));
  try {
    const blobs = await Promise.all(
      image.layers.map((layer, i) =>
        createLayerBlob(layer, {
          ...(options.compression ? { compression: options.compression } : {}),
          ...(options.level === undefined ? {} : { level: options.level }),
          ...(options.cache ? { cache: options.cache, lookup: false } : {}),
          ...(options.onCacheError ? { onCacheError: options.onCacheError } : {}),
          name: `layer ${i + 1}`,
        }),
      ),
    );
    const placements = await place(blobs, dir, options, signal);
    await use(archive(image, placements, options, done));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * {@link writeOciArchive} into an open file descriptor (a file, a pipe), the way a docker-archive
 * writes itself (TarStream.writeToFd): uncompressed layers are read into one reused buffer and
 * written out by the thread pool, with nothing allocated a chunk. Resolves once the index is written;
 * the descriptor is left open.
 * @example
 * const fd = openSync('hello.oci.tar', 'wx');
 * try { await writeOciArchiveToFd(image, fd); } finally { closeSync(fd); }
 */
export async function writeOciArchiveToFd(image: Image, fd: number, options: WriteOciArchiveOptions & { readonly onProgress?: (bytes: number) => void } = {}): Promise<OciImageWritten> {
  const archive = writeOciArchive(image, options);
  await archive.writeToFd(fd, options.onProgress ? { onProgress: options.onProgress } : {});
  return archive.image;
}

/** The tar of the layout, with its exact size computed from placeholders of the digests' length. */
function archive(image: Image, placements: readonly Placement[], options: WriteOciArchiveOptions, done: (w: OciImageWritten) => void): TarStream {
  const mtime = options.mtime ?? image.mtime ?? 1;
  const linked = placements.some((p) => p.kind === 'linked');
  const file = (name: string, size: number) => header(name, 'file', size, mtime);
  const dirs = [header('blobs/', 'directory', 0, mtime), header('blobs/sha256/', 'directory', 0, mtime), ...(linked ? [header('layers/', 'directory', 0, mtime)] : [])];
  const layerDescriptors = (digests: readonly string[]) =>
    placements.map((p, i) => ({ mediaType: ociLayerType(p.kind === 'spooled' ? (options.compression ?? 'none') : p.blob.compression), digest: digests[i]!, size: p.size }));
  // Digests have a fixed length; known diffIDs are used, since an image with a fixed config checks them.
  const placeholderConfig = image.config(placements.map((p) => (p.kind === 'spooled' ? p.diffId : (p.blob.layer.diffId ?? PLACEHOLDER_DIGEST))));
  const configDescriptor = (digest: string, size: number) => ({ mediaType: MediaType.ociConfig, digest, size });
  const manifestSize = ociManifestBytes(configDescriptor(PLACEHOLDER_DIGEST, placeholderConfig.length), layerDescriptors(placements.map(() => PLACEHOLDER_DIGEST))).length;
  const indexSize = ociIndexBytes(indexEntries({ mediaType: MediaType.ociManifest, digest: PLACEHOLDER_DIGEST, size: manifestSize }, image.repoTags, image.platform)).length;
  const placeholderName = blobName(PLACEHOLDER_DIGEST);
  // A spooled blob is written once, however many layers it is.
  const seen = new Set<string>();
  const repeated = placements.map((p) => {
    if (p.kind === 'linked') return false;
    const again = seen.has(p.digest);
    seen.add(p.digest);
    return again;
  });
  const headers = [
    file('oci-layout', OCI_LAYOUT_FILE.length),
    ...dirs,
    ...placements.flatMap((p, i) => {
      if (p.kind === 'linked') return [file(p.member, p.size), header(placeholderName, 'symlink', 0, mtime, `../../${p.member}`)];
      return repeated[i] ? [] : [file(placeholderName, p.size)];
    }),
    file(placeholderName, placeholderConfig.length),
    file(placeholderName, manifestSize),
    file('index.json', indexSize),
  ];
  async function* entries(): AsyncGenerator<TarEntry> {
    yield { ...headers[0]!, body: OCI_LAYOUT_FILE };
    yield* dirs;
    const digests: string[] = [];
    const diffIds: string[] = [];
    for (const [i, p] of placements.entries()) {
      if (p.kind === 'spooled') {
        if (!repeated[i]) yield { ...file(blobName(p.digest), p.size), body: () => createReadStream(p.file) };
        digests.push(p.digest);
        diffIds.push(p.diffId);
        continue;
      }
      let stream: ReturnType<LayerBlob['open']> | undefined;
      const open = () => {
        options.onLayer?.(i);
        stream = p.blob.open();
        return stream;
      };
      yield { ...file(p.member, p.size), body: open };
      const digest = await stream!.digest;
      yield header(blobName(digest), 'symlink', 0, mtime, `../../${p.member}`);
      digests.push(digest);
      diffIds.push(await stream!.diffId);
    }
    const config = image.config(diffIds);
    const configDigest = sha256(config);
    yield { ...file(blobName(configDigest), config.length), body: config };
    const manifest = ociManifestBytes(configDescriptor(configDigest, config.length), layerDescriptors(digests));
    const manifestDescriptor = { mediaType: MediaType.ociManifest, digest: sha256(manifest), size: manifest.length };
    yield { ...file(blobName(manifestDescriptor.digest), manifest.length), body: manifest };
    yield { ...file('index.json', indexSize), body: ociIndexBytes(indexEntries(manifestDescriptor, image.repoTags, image.platform)) };
    done({ manifest: manifestDescriptor, imageId: configDigest });
  }
  return writeTar(entries(), { size: tarSize(headers), digest: false, ...(options.signal ? { signal: options.signal } : {}) });
}
