import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, open, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { type Compression, detectCompression, readArchiveMembers } from '@strata/manifest';
import { type Descriptor, hostPlatform, isIndexMediaType, parseIndex, parseManifest, type Platform, selectPlatform } from '@strata/registry';
import { ImageError } from './errors.js';
import type { Image } from './image.js';
import { createLayer } from './layer.js';
import { fixedConfig } from './_fixed-config.js';
import { compressionOfMediaType } from './registry-image.js';

/** Options for {@link readOciImage}. */
export interface ReadOciImageOptions {
  /** Which image of the layout: its `org.opencontainers.image.ref.name` (the tag) or `io.containerd.image.name`. @default the only one */
  readonly name?: string;
  /** The platform to pick from an index. @default the host's */
  readonly platform?: Platform;
}

/** An image read from an OCI layout, with the manifest it was read through. */
export interface OciImageSource {
  readonly image: Image;
  /** The image manifest: its exact bytes, as the layout stores them. */
  readonly manifest: { readonly mediaType: string; readonly digest: string; readonly size: number; readonly bytes: Buffer };
  /** The index the manifest was picked from by platform, when there was one. */
  readonly index?: { readonly mediaType: string; readonly digest: string; readonly bytes: Buffer };
}

/** Where a layout's blobs are: a directory, or the members of a tar. */
interface BlobStore {
  readonly where: string;
  indexJson(): Promise<Buffer>;
  /** A blob's size and the compression its first bytes show, or undefined when it is missing. */
  stat(digest: string): Promise<{ readonly size: number; readonly compression: Compression } | undefined>;
  read(digest: string, limit: number): Promise<Buffer>;
  open(digest: string): Readable;
  /** Releases what the store holds open (an archive's decompressed copy). Idempotent. */
  close(): Promise<void>;
}

// index.json, manifests and configs are small; a bigger one is a hostile layout, not an image.
const JSON_LIMIT = 16 << 20;
const SHA256 = /^sha256:[a-f0-9]{64}$/;
const REF_NAME = 'org.opencontainers.image.ref.name';
const CONTAINERD_NAME = 'io.containerd.image.name';

function blobName(digest: string, where: string): string {
  if (!SHA256.test(digest)) throw new ImageError('INVALID_IMAGE', `${where}: digest ${JSON.stringify(digest.slice(0, 80))} is not a sha256 digest`);
  return `blobs/sha256/${digest.slice('sha256:'.length)}`;
}

async function directoryStore(dir: string): Promise<BlobStore> {
  const root = await realpath(dir);
  // A blob may be a link (an extracted archive's are): it must stay inside the layout.
  const inside = async (name: string) => {
    const path = await realpath(join(root, name)).catch(() => undefined);
    if (path === undefined) return undefined;
    if (!path.startsWith(root + sep)) throw new ImageError('UNSAFE_ENTRY', `${dir}: ${name} points outside the layout`);
    return (await lstat(path)).isFile() ? path : undefined;
  };
  const readLimited = async (name: string, limit: number) => {
    const path = await inside(name);
    if (!path) throw new ImageError('INVALID_IMAGE', `${dir}: ${name} is missing`);
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      if (size > limit) throw new ImageError('LIMIT_EXCEEDED', `${dir}: ${name} is ${size} bytes, over the ${limit} byte limit`);
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  };
  return {
    where: dir,
    indexJson: () => readLimited('index.json', JSON_LIMIT),
    stat: async (digest) => {
      const path = await inside(blobName(digest, dir));
      if (path === undefined) return undefined;
      const handle = await open(path, 'r');
      try {
        const head = Buffer.alloc(4);
        const { bytesRead } = await handle.read(head, 0, 4, 0);
        return { size: (await handle.stat()).size, compression: detectCompression(head.subarray(0, bytesRead)) };
      } finally {
        await handle.close();
      }
    },
    read: (digest, limit) => readLimited(blobName(digest, dir), limit),
    open: (digest) => createReadStream(join(root, blobName(digest, dir)), { highWaterMark: 1 << 20 }),
    close: async () => {},
  };
}

async function archiveStore(file: string): Promise<BlobStore> {
  const members = await readArchiveMembers(file);
  const read = async (name: string, limit: number) => {
    const stat = await members.stat(name);
    if (!stat) throw new ImageError('INVALID_IMAGE', `${file}: ${name} is missing`);
    if (stat.size > limit) throw new ImageError('LIMIT_EXCEEDED', `${file}: ${name} is ${stat.size} bytes, over the ${limit} byte limit`);
    return members.read(name, limit);
  };
  return {
    where: file,
    indexJson: () => read('index.json', JSON_LIMIT),
    stat: (digest) => members.stat(blobName(digest, file)),
    read: (digest, limit) => read(blobName(digest, file), limit),
    open: (digest) => members.open(blobName(digest, file)),
    close: () => members.close(),
  };
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A small blob, checked against its descriptor. */
async function readBlob(store: BlobStore, descriptor: Descriptor, what: string): Promise<Buffer> {
  const bytes = await store.read(descriptor.digest, JSON_LIMIT);
  if (bytes.length !== descriptor.size || sha256(bytes) !== descriptor.digest) {
    throw new ImageError('DIGEST_MISMATCH', `${store.where}: ${what} ${descriptor.digest} does not hash to its digest (or has another size)`);
  }
  return bytes;
}

function nameOf(d: Descriptor): string | undefined {
  return d.annotations?.[CONTAINERD_NAME] ?? d.annotations?.[REF_NAME];
}

/** The entry of index.json the options name; the only one when they name none. */
function pickEntry(manifests: readonly Descriptor[], options: ReadOciImageOptions, where: string): Descriptor {
  const candidates = options.name === undefined ? manifests : manifests.filter((m) => m.annotations?.[REF_NAME] === options.name || m.annotations?.[CONTAINERD_NAME] === options.name);
  const digests = new Set(candidates.map((m) => m.digest));
  if (digests.size === 1) return candidates[0]!;
  const names = manifests.map((m) => nameOf(m) ?? m.digest).join(', ');
  if (digests.size === 0) throw new ImageError('INVALID_IMAGE', `${where}: no image ${options.name === undefined ? 'in index.json' : JSON.stringify(options.name)} (it has ${names || 'none'})`);
  if (options.platform && candidates.every((m) => m.platform)) return selectPlatform(candidates, options.platform, where);
  throw new ImageError('INVALID_IMAGE', `${where}: holds ${digests.size} images (${names}); name one (oci:PATH:NAME)`);
}

/** The repo tag an archive sink would name the image by: containerd's full name, else a ref name that is one. */
function repoTagsOf(entry: Descriptor): string[] {
  const full = entry.annotations?.[CONTAINERD_NAME];
  if (full) return [full];
  const ref = entry.annotations?.[REF_NAME];
  return ref && /[:/]/.test(ref) ? [ref] : [];
}

/**
 * Reads an image from an OCI image layout, a directory (`oci:DIR[:NAME]`) or a tar of one
 * (`oci-archive:FILE[:NAME]`, plain or compressed as a whole), as a lazy {@link Image}: index.json,
 * the manifest and the config are read and checked against their digests now; each layer streams
 * from its blob when a sink pulls it, checked against its digest and diffID. Nested indexes are
 * followed to the platform asked for. Blobs are found by digest only, never outside the layout.
 * @example
 * const { image, manifest } = await readOciImage('hello-oci', { name: 'latest' });
 */
export async function readOciImage(path: string, options: ReadOciImageOptions = {}): Promise<OciImageSource> {
  const st = await lstat(path).catch((error: Error) => {
    throw new ImageError('INVALID_IMAGE', `${path}: cannot read: ${error.message}`, { cause: error });
  });
  const store = st.isDirectory() ? await directoryStore(path) : await archiveStore(path);
  try {
    return await readFromStore(path, store, options);
  } catch (error) {
    await store.close();
    throw error;
  }
}

async function readFromStore(path: string, store: BlobStore, options: ReadOciImageOptions): Promise<OciImageSource> {
  const index = parseIndex(await store.indexJson(), `${path}: index.json`);
  const entry = pickEntry(index.manifests, options, path);
  let descriptor = entry;
  let chosenFrom: OciImageSource['index'];
  for (let depth = 0; isIndexMediaType(descriptor.mediaType); depth++) {
    if (depth > 4) throw new ImageError('INVALID_IMAGE', `${path}: indexes nested deeper than 4`);
    const bytes = await readBlob(store, descriptor, 'index');
    chosenFrom ??= { mediaType: descriptor.mediaType, digest: descriptor.digest, bytes };
    descriptor = selectPlatform(parseIndex(bytes, `${path}: index ${descriptor.digest}`).manifests, options.platform ?? hostPlatform(), `${path}: index ${descriptor.digest}`);
  }
  const manifestBytes = await readBlob(store, descriptor, 'manifest');
  const manifest = parseManifest(manifestBytes, `${path}: manifest ${descriptor.digest}`);
  const configBytes = await readBlob(store, manifest.config, 'config');
  const config = JSON.parse(configBytes.toString('utf8')) as { os?: unknown; architecture?: unknown; variant?: unknown; rootfs?: { diff_ids?: unknown } };
  const where = `${path}: ${nameOf(entry) ?? descriptor.digest}`;
  const diffIds = config.rootfs?.diff_ids;
  if (typeof config.os !== 'string' || typeof config.architecture !== 'string' || !Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
    throw new ImageError('INVALID_IMAGE', `${where}: the config is not an image config with one diff_id per layer`);
  }
  const layers = await Promise.all(
    manifest.layers.map(async (l, i) => {
      if (compressionOfMediaType(l.mediaType) === undefined) throw new ImageError('INVALID_IMAGE', `${where}: layer ${i + 1} has media type ${l.mediaType}, not a layer tar`);
      const blob = await store.stat(l.digest);
      if (blob?.size !== l.size) throw new ImageError('INVALID_IMAGE', `${where}: layer ${i + 1} (${l.digest}) is ${blob === undefined ? 'missing' : `${blob.size} bytes, the manifest says ${l.size}`}`);
      // The bytes say how they are compressed: skopeo 1.9 labels the plain layers it keeps `tar+gzip`.
      return createLayer({ size: blob.size, compression: blob.compression, digest: l.digest, diffId: String(diffIds[i]), open: () => store.open(l.digest), name: `${where}: layer ${i + 1}` });
    }),
  );
  const image: Image = {
    repoTags: repoTagsOf(entry),
    platform: { os: config.os, architecture: config.architecture, ...(typeof config.variant === 'string' && config.variant !== '' ? { variant: config.variant } : {}) },
    layers,
    config: fixedConfig(where, diffIds.map(String), configBytes),
    // A compressed archive's decompressed copy lives until the image is disposed of.
    dispose: () => store.close(),
  };
  return {
    image,
    manifest: { mediaType: descriptor.mediaType, digest: descriptor.digest, size: manifestBytes.length, bytes: manifestBytes },
    ...(chosenFrom ? { index: chosenFrom } : {}),
  };
}

