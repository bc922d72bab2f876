import { RegistryClient, type RegistryClientOptions } from './client.js';
import { sha256Digest } from './digest.js';
import { RegistryError } from './errors.js';
import { type Descriptor, type Index, MediaType } from './media-types.js';
import { formatPlatform } from './platform.js';
import { formatReference, parseReference, type Reference } from './reference.js';

/** Options for {@link pushIndex}. */
export interface PushIndexOptions extends RegistryClientOptions {
  /** Reuse a client (and its tokens). @default a new client for the reference's registry */
  readonly client?: RegistryClient;
  /** Annotations of the index itself. @default none */
  readonly annotations?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

/** What {@link pushIndex} pushed. */
export interface PushedIndex {
  /** `registry/repository@sha256:…` of the index. */
  readonly reference: string;
  readonly digest: string;
  readonly mediaType: string;
  /** The index's exact bytes. */
  readonly bytes: Buffer;
}

/**
 * The exact bytes of an OCI image index naming `manifests`, each with its platform, in the order
 * given. Two entries for one platform are refused: a client could not choose between them.
 */
export function imageIndexBytes(manifests: readonly Descriptor[], annotations?: Readonly<Record<string, string>>): Buffer {
  const seen = new Map<string, number>();
  manifests.forEach((m, i) => {
    if (!m.platform) throw new RegistryError('MANIFEST_INVALID', `index entry ${i + 1} (${m.digest}) names no platform`);
    const key = formatPlatform(m.platform);
    const other = seen.get(key);
    if (other !== undefined) throw new RegistryError('MANIFEST_INVALID', `index entries ${other + 1} and ${i + 1} are both for ${key}`);
    seen.set(key, i);
  });
  const index: Index = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: manifests.map((m) => ({ mediaType: m.mediaType, digest: m.digest, size: m.size, platform: m.platform!, ...(m.annotations ? { annotations: m.annotations } : {}) })),
    ...(annotations ? { annotations } : {}),
  };
  return Buffer.from(JSON.stringify(index));
}

/**
 * Pushes an OCI image index over manifests already in the repository (push each image first, by
 * digest), under the reference's tag (or by digest).
 * @example
 * const amd = await pushImage('r/app', amd64Image); const arm = await pushImage('r/app', arm64Image);
 * await pushIndex('r/app:1', [{ ...amdDescriptor, platform: { os: 'linux', architecture: 'amd64' } }, …]);
 */
export async function pushIndex(reference: string | Reference, manifests: readonly Descriptor[], options: PushIndexOptions = {}): Promise<PushedIndex> {
  const ref = typeof reference === 'string' ? parseReference(reference) : reference;
  const client = options.client ?? new RegistryClient(ref.registry, options);
  const bytes = imageIndexBytes(manifests, options.annotations);
  const digest = sha256Digest(bytes);
  if (ref.digest !== undefined && ref.digest !== digest) throw new RegistryError('DIGEST_MISMATCH', `index for ${formatReference(ref)}: its bytes hash to ${digest}`);
  const signal = options.signal ? { signal: options.signal } : {};
  await client.pushManifest(ref.repository, ref.digest === undefined ? (ref.tag ?? digest) : digest, bytes, MediaType.ociIndex, signal);
  return { reference: formatReference({ registry: ref.registry, repository: ref.repository, digest }), digest, mediaType: MediaType.ociIndex, bytes };
}
