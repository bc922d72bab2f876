import type { Readable } from 'node:stream';
import { RegistryClient, type RegistryClientOptions } from './client.js';
import { RegistryError } from './errors.js';
import { type FetchedManifest, parseIndex, parseManifest } from './manifests.js';
import { type Descriptor, isIndexMediaType, type Manifest, type Platform } from './media-types.js';
import { hostPlatform, selectPlatform } from './platform.js';
import { uncompressedLayer } from './_uncompressed.js';
import { formatReference, manifestIdentifier, parseReference, type Reference } from './reference.js';

/** Options for {@link pullImage}. */
export interface PullImageOptions extends RegistryClientOptions {
  /** Reuse a client. @default a new client for the reference's registry */
  readonly client?: RegistryClient;
  /** Platform to pick from an index. @default the host's (linux/amd64 on x64) */
  readonly platform?: Platform;
  /** Largest layer accepted, as declared and as it inflates to (a hostile manifest may claim anything). @default 64 GiB */
  readonly maxBlobSize?: number;
  /** Largest sum of the declared layer sizes. @default 256 GiB */
  readonly maxImageSize?: number;
  readonly signal?: AbortSignal;
}

/** A layer of a pulled image: its descriptor and verified streams of its bytes. */
export interface PulledLayer {
  readonly descriptor: Descriptor;
  /** The config's `diff_id` for this layer (digest of the uncompressed tar), when the config lists one. */
  readonly diffId?: string;
  /** Streams the blob as stored; the stream errors (DIGEST_MISMATCH/SIZE_MISMATCH) instead of ending on bad bytes. */
  open(): Readable;
  /** Streams the uncompressed tar, verified against both the blob digest and the `diff_id`. */
  openUncompressed(): Readable;
}

/** A resolved image: manifest, config bytes and layers, all verified against their digests. */
export interface PulledImage {
  readonly reference: Reference;
  /** Digest of the platform manifest (what `repo@digest` pins). */
  readonly digest: string;
  readonly mediaType: string;
  readonly manifest: Manifest;
  readonly manifestBytes: Buffer;
  /** The index the manifest was chosen from, when the reference named one. */
  readonly index?: FetchedManifest;
  readonly config: { readonly descriptor: Descriptor; readonly bytes: Buffer };
  readonly layers: readonly PulledLayer[];
}

/** The config's `rootfs.diff_ids` when it is an image config with one per layer (artifacts have none). */
function configDiffIds(bytes: Buffer, layers: number, what: string): string[] | undefined {
  let parsed: { rootfs?: { diff_ids?: unknown } };
  try {
    parsed = JSON.parse(bytes.toString('utf8')) as typeof parsed;
  } catch {
    return undefined;
  }
  const ids = parsed.rootfs?.diff_ids;
  if (!Array.isArray(ids)) return undefined;
  if (ids.length !== layers || !ids.every((id) => typeof id === 'string')) {
    throw new RegistryError('MANIFEST_INVALID', `${what}: config lists ${ids.length} diff_ids for ${layers} layers`);
  }
  return ids as string[];
}

/** Refuses a manifest whose layers are over the limits before any of them is downloaded. */
function checkSizes(manifest: Manifest, what: string, maxBlobSize: number, maxImageSize: number): void {
  let total = 0;
  for (const [i, layer] of manifest.layers.entries()) {
    if (layer.size > maxBlobSize) {
      throw new RegistryError('SIZE_LIMIT', `${what}: layer ${i + 1} (${layer.digest}) declares ${layer.size} bytes, over the limit of ${maxBlobSize} bytes (maxBlobSize)`);
    }
    total += layer.size;
  }
  if (total > maxImageSize) throw new RegistryError('SIZE_LIMIT', `${what}: the layers declare ${total} bytes in all, over the limit of ${maxImageSize} bytes (maxImageSize)`);
}

/** Walks indexes (nested ones too) down to the manifest for `platform`. */
async function resolveManifest(client: RegistryClient, ref: Reference, platform: Platform, signal?: AbortSignal) {
  const call = signal ? { signal } : {};
  let fetched = await client.fetchManifest(ref.repository, manifestIdentifier(ref), call);
  let index: FetchedManifest | undefined;
  for (let depth = 0; isIndexMediaType(fetched.mediaType); depth++) {
    if (depth > 4) throw new RegistryError('MANIFEST_INVALID', `${formatReference(ref)}: indexes nested deeper than 4`);
    index ??= fetched;
    const what = `index ${formatReference(ref)}`;
    const chosen = selectPlatform(parseIndex(fetched.bytes, what).manifests, platform, what);
    fetched = await client.fetchManifest(ref.repository, chosen.digest, call);
  }
  return { fetched, index };
}

/**
 * Resolves a reference to one image: fetches the manifest (choosing the platform from an index),
 * the config (verified), and hands out verified layer streams.
 * @example
 * const image = await pullImage('127.0.0.1:5000/app@sha256:…', { platform: { os: 'linux', architecture: 'arm64' } });
 * for (const layer of image.layers) await pipeline(layer.open(), createWriteStream(...));
 */
export async function pullImage(reference: string | Reference, options: PullImageOptions = {}): Promise<PulledImage> {
  const ref = typeof reference === 'string' ? parseReference(reference) : reference;
  const client = options.client ?? new RegistryClient(ref.registry, options);
  const signal = options.signal;
  const { fetched, index } = await resolveManifest(client, ref, options.platform ?? hostPlatform(), signal);
  const manifest = parseManifest(fetched.bytes, `manifest ${formatReference(ref)}`);
  const maxBlobSize = options.maxBlobSize ?? 64 * 1024 ** 3;
  checkSizes(manifest, formatReference(ref), maxBlobSize, options.maxImageSize ?? 256 * 1024 ** 3);
  const call = signal ? { signal } : {};
  const configBytes = await client.fetchBlobBytes(ref.repository, manifest.config, call);
  const diffIds = configDiffIds(configBytes, manifest.layers.length, formatReference(ref));
  return {
    reference: ref,
    digest: fetched.digest,
    mediaType: fetched.mediaType,
    manifest,
    manifestBytes: fetched.bytes,
    ...(index ? { index } : {}),
    config: { descriptor: manifest.config, bytes: configBytes },
    layers: manifest.layers.map((descriptor, i) => {
      const open = () => client.fetchBlob(ref.repository, descriptor, call);
      const diffId = diffIds?.[i];
      return {
        descriptor,
        ...(diffId ? { diffId } : {}),
        open,
        openUncompressed: () => {
          if (!diffId) throw new RegistryError('MANIFEST_INVALID', `${formatReference(ref)}: the config has no diff_id for layer ${i + 1}`);
          return uncompressedLayer(open, descriptor.digest, diffId, maxBlobSize);
        },
      };
    }),
  };
}
