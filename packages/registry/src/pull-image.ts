import type { Readable } from 'node:stream';
import { RegistryClient, type RegistryClientOptions } from './client.js';
import { RegistryError } from './errors.js';
import { type FetchedManifest, parseIndex, parseManifest } from './manifests.js';
import { type Descriptor, isIndexMediaType, type Manifest, type Platform } from './media-types.js';
import { hostPlatform, selectPlatform } from './platform.js';
import { formatReference, manifestIdentifier, parseReference, type Reference } from './reference.js';

/** Options for {@link pullImage}. */
export interface PullImageOptions extends RegistryClientOptions {
  /** Reuse a client. @default a new client for the reference's registry */
  readonly client?: RegistryClient;
  /** Platform to pick from an index. @default the host's (linux/amd64 on x64) */
  readonly platform?: Platform;
  readonly signal?: AbortSignal;
}

/** A layer of a pulled image: its descriptor and a verified stream of its bytes. */
export interface PulledLayer {
  readonly descriptor: Descriptor;
  /** Streams the blob; the stream errors (DIGEST_MISMATCH/SIZE_MISMATCH) instead of ending on bad bytes. */
  open(): Readable;
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
  const call = signal ? { signal } : {};
  const configBytes = await client.fetchBlobBytes(ref.repository, manifest.config, call);
  return {
    reference: ref,
    digest: fetched.digest,
    mediaType: fetched.mediaType,
    manifest,
    manifestBytes: fetched.bytes,
    ...(index ? { index } : {}),
    config: { descriptor: manifest.config, bytes: configBytes },
    layers: manifest.layers.map((descriptor) => ({ descriptor, open: () => client.fetchBlob(ref.repository, descriptor, call) })),
  };
}
