import pLimit from 'p-limit';
import { RegistryClient, type RegistryClientOptions } from './client.js';
import { RegistryError } from './errors.js';
import { type FetchedManifest, parseIndex, parseManifest } from './manifests.js';
import { type Descriptor, isIndexMediaType, type Platform } from './media-types.js';
import { selectPlatform } from './platform.js';
import { formatReference, manifestIdentifier, parseReference, type Reference } from './reference.js';
import type { BlobPushStatus } from './upload.js';

/** Options for {@link copyImage}. */
export interface CopyImageOptions {
  /** How to reach the source registry. @default {} */
  readonly source?: RegistryClientOptions & { readonly client?: RegistryClient };
  /** How to reach the destination registry (the source's client when both are one registry). @default {} */
  readonly destination?: RegistryClientOptions & { readonly client?: RegistryClient };
  /** Copy only this platform's manifest out of an index. @default every manifest of the index */
  readonly platform?: Platform;
  /** Blobs copied at once. @default 4 */
  readonly concurrency?: number;
  /** Told of each blob once it is in the destination. @default none */
  readonly onBlob?: (event: { readonly digest: string; readonly size: number; readonly status: BlobPushStatus }) => void;
  readonly signal?: AbortSignal;
}

/** What {@link copyImage} copied. */
export interface CopiedImage {
  /** `registry/repository@sha256:…` of the copied manifest (the source's digest: the bytes are kept). */
  readonly reference: string;
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  /** Manifests copied (an index's children and the index itself). */
  readonly manifests: number;
  /** Blobs that were already there, mounted, or uploaded. */
  readonly blobs: Readonly<Record<BlobPushStatus, number>>;
}

interface Side {
  readonly client: RegistryClient;
  readonly repository: string;
}

interface Copy {
  readonly from: Side;
  readonly to: Side;
  readonly sameRegistry: boolean;
  readonly limit: ReturnType<typeof pLimit>;
  readonly options: CopyImageOptions;
  readonly counts: Record<BlobPushStatus, number>;
  manifests: number;
}

// Indexes may nest (an index of indexes); more than this is a loop or an attack, not an image.
const MAX_DEPTH = 4;

/** Blobs a manifest names: its config and layers. Foreign layers (with `urls`) stay where they are, as registries expect. */
function blobsOf(fetched: FetchedManifest, what: string): Descriptor[] {
  const manifest = parseManifest(fetched.bytes, what);
  return [manifest.config, ...manifest.layers.filter((l) => !(l.urls && l.urls.length > 0))];
}

async function copyBlob(c: Copy, descriptor: Descriptor, stop: AbortSignal): Promise<void> {
  const signal = { signal: stop };
  const pushed = await c.to.client.pushBlob(
    c.to.repository,
    { digest: descriptor.digest, size: descriptor.size, open: () => c.from.client.fetchBlob(c.from.repository, descriptor, signal) },
    // Same registry: ask for a cross-repository mount, so no byte travels.
    { ...(c.sameRegistry ? { mountFrom: c.from.repository } : {}), ...signal },
  );
  c.counts[pushed.status]++;
  c.options.onBlob?.({ digest: pushed.digest, size: pushed.size, status: pushed.status });
}

/** Copies blobs in parallel; the first failure cancels the others, and is thrown once they have all stopped. */
async function copyBlobs(c: Copy, blobs: readonly Descriptor[]): Promise<void> {
  const stop = new AbortController();
  const signal = c.options.signal ? AbortSignal.any([c.options.signal, stop.signal]) : stop.signal;
  let first: { error: unknown } | undefined;
  await Promise.allSettled(
    blobs.map((blob) =>
      c.limit(async () => {
        signal.throwIfAborted();
        await copyBlob(c, blob, signal);
      }).catch((error: unknown) => {
        if (!first) {
          first = { error };
          stop.abort(error);
        }
      }),
    ),
  );
  if (first) throw first.error;
}

/** Copies one manifest (an index with its children first) and puts its exact bytes under `tag` (its digest when none). */
async function copyManifest(c: Copy, identifier: string, tag: string | undefined, depth: number): Promise<FetchedManifest> {
  const signal = c.options.signal ? { signal: c.options.signal } : {};
  const what = `${c.from.client.registry}/${c.from.repository}@${identifier}`;
  const fetched = await c.from.client.fetchManifest(c.from.repository, identifier, signal);
  if (isIndexMediaType(fetched.mediaType)) {
    if (depth >= MAX_DEPTH) throw new RegistryError('MANIFEST_INVALID', `${what}: indexes nested deeper than ${MAX_DEPTH}`);
    const index = parseIndex(fetched.bytes, what);
    if (c.options.platform) return copyManifest(c, selectPlatform(index.manifests, c.options.platform, `index ${what}`).digest, tag, depth + 1);
    // Children first, one at a time (their blobs go in parallel): the index must name only what is there.
    for (const child of index.manifests) await copyManifest(c, child.digest, undefined, depth + 1);
  } else {
    await copyBlobs(c, blobsOf(fetched, `manifest ${what}`));
  }
  // The exact bytes: the digest stays what it was (a re-serialised manifest would not keep it).
  await c.to.client.pushManifest(c.to.repository, tag ?? fetched.digest, fetched.bytes, fetched.mediaType, signal);
  c.manifests++;
  return fetched;
}

/**
 * Copies an image or index from one repository to another, on the same registry (blobs are mounted,
 * not sent) or across registries (blobs stream from one to the other, verified on the way), keeping
 * every manifest's exact bytes so its digest stays the same. For an index, every child manifest is
 * copied before the index, unless `platform` picks one.
 * @example
 * const copied = await copyImage('127.0.0.1:5000/app:1', '127.0.0.1:5000/mirror/app:1');
 * copied.digest; // the source's digest
 */
export async function copyImage(source: string | Reference, destination: string | Reference, options: CopyImageOptions = {}): Promise<CopiedImage> {
  const src = typeof source === 'string' ? parseReference(source) : source;
  const dst = typeof destination === 'string' ? parseReference(destination) : destination;
  const sameRegistry = src.registry === dst.registry;
  const fromClient = options.source?.client ?? new RegistryClient(src.registry, options.source ?? {});
  const toClient = options.destination?.client ?? (sameRegistry && !options.destination ? fromClient : new RegistryClient(dst.registry, options.destination ?? {}));
  const c: Copy = {
    from: { client: fromClient, repository: src.repository },
    to: { client: toClient, repository: dst.repository },
    sameRegistry,
    limit: pLimit(options.concurrency ?? 4),
    options,
    counts: { exists: 0, mounted: 0, uploaded: 0 },
    manifests: 0,
  };
  // A destination pinned by digest is a promise about the bytes: it is checked once they are known.
  const copied = await copyManifest(c, manifestIdentifier(src), dst.digest === undefined ? dst.tag : undefined, 0);
  if (dst.digest !== undefined && dst.digest !== copied.digest) {
    throw new RegistryError('DIGEST_MISMATCH', `copy to ${formatReference(dst)}: the source ${formatReference(src)} has digest ${copied.digest}`);
  }
  return {
    reference: formatReference({ registry: dst.registry, repository: dst.repository, digest: copied.digest }),
    digest: copied.digest,
    mediaType: copied.mediaType,
    size: copied.size,
    manifests: c.manifests,
    blobs: c.counts,
  };
}
