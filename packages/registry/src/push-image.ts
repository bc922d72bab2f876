import pLimit from 'p-limit';
import { RegistryClient, type RegistryClientOptions } from './client.js';
import { sha256Digest } from './digest.js';
import { RegistryError } from './errors.js';
import { abortReason } from './_retry.js';
import type { Descriptor, Manifest } from './media-types.js';
import { MediaType } from './media-types.js';
import { type Reference, formatReference, parseReference } from './reference.js';
import type { BlobPushStatus, BlobSource, PushedBlob } from './upload.js';

/** A layer to push: its media type and where its bytes come from (digest and size optional). */
export interface LayerSource extends BlobSource {
  readonly mediaType: string;
  readonly annotations?: Readonly<Record<string, string>>;
  /**
   * The work pushing it takes, for a layer whose size is not known before it is read (one
   * compressed on the way: its uncompressed size). Layers start heaviest first, so a push does not
   * end on one big layer while the cores that compressed the small ones sit idle.
   * @default size, else 0
   */
  readonly weight?: number;
}

/** The image config: exact bytes and media type. */
export interface ConfigSource {
  readonly bytes: Uint8Array;
  readonly mediaType: string;
}

/** An image to push. The config may be computed from the layer descriptors once they are uploaded. */
export interface ImageSource {
  readonly layers: readonly LayerSource[];
  readonly config: ConfigSource | ((layers: readonly Descriptor[]) => ConfigSource | Promise<ConfigSource>);
  /** @default Docker schema 2 for a Docker config media type, else OCI */
  readonly manifestMediaType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly subject?: Descriptor;
  readonly artifactType?: string;
}

/** One progress event of {@link pushImage}. */
export interface PushProgress {
  /** Layer index, or `config`. */
  readonly blob: number | 'config';
  /** `progress` while bytes flow; skipped (HEAD found it), mounted and uploaded blobs count as complete. */
  readonly event: 'progress' | BlobPushStatus;
  readonly digest?: string;
  /** Bytes accounted for over all blobs so far. */
  readonly completedBytes: number;
  /** Sum of the sizes known so far. */
  readonly totalBytes: number;
}

/** Options for {@link pushImage}. */
export interface PushImageOptions extends RegistryClientOptions {
  /** Reuse a client (and its tokens). @default a new client for the reference's registry */
  readonly client?: RegistryClient;
  /** Parallel uploads; layers of known digest are HEADed four times as many at once (at most 16). @default 4 */
  readonly concurrency?: number;
  /** Further tags to point at the same manifest. @default [] */
  readonly tags?: readonly string[];
  /** Try cross-repository mounts from this repository of the same registry. */
  readonly mountFrom?: string;
  /** Force an upload flow for every blob. @default monolithic when the digest is known, else streamed */
  readonly uploadMode?: 'monolithic' | 'streamed' | 'chunked';
  readonly onProgress?: (event: PushProgress) => void;
  readonly signal?: AbortSignal;
}

/** What {@link pushImage} did. */
export interface PushedImage {
  /** `registry/repository@sha256:…` */
  readonly reference: string;
  readonly digest: string;
  readonly mediaType: string;
  readonly manifest: Buffer;
  readonly layers: readonly PushedBlob[];
  readonly config: PushedBlob;
  /** Bytes actually sent in blob uploads (0 when everything was already there). */
  readonly uploadedBytes: number;
}

class Progress {
  completed = 0;
  total = 0;
  constructor(readonly emit?: (e: PushProgress) => void) {}
  send(blob: number | 'config', event: PushProgress['event'], digest?: string): void {
    this.emit?.({ blob, event, ...(digest ? { digest } : {}), completedBytes: this.completed, totalBytes: this.total });
  }
}

/**
 * HEADs the layers of known digest, more at once than uploads run: a HEAD is a round trip and no
 * bandwidth, and a re-push is all HEADs. For each layer, the size the registry holds, or undefined
 * where it has none (or the digest is not known before reading). The first failure stops the rest.
 */
async function headKnown(client: RegistryClient, repo: string, layers: readonly LayerSource[], concurrency: number, signal: AbortSignal | undefined): Promise<(number | undefined)[]> {
  const heads = pLimit(Math.max(1, Math.min(16, 4 * concurrency)));
  const stop = new AbortController();
  const call = { signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal };
  try {
    return await Promise.all(layers.map((layer) => (layer.digest === undefined ? undefined : heads(() => client.headBlob(repo, layer.digest!, call)))));
  } catch (error) {
    stop.abort(error);
    throw error;
  }
}

async function pushLayer(client: RegistryClient, repo: string, layer: LayerSource, index: number | 'config', options: PushImageOptions, progress: Progress, sent: { bytes: number }, headed?: number | null) {
  // Found by the HEAD up front: the size the layer declares, else the registry's.
  const found = headed === null || headed === undefined ? undefined : { digest: layer.digest!, size: layer.size ?? layer.bytes?.byteLength ?? headed, status: 'exists' as const };
  if (found && !Number.isSafeInteger(found.size)) throw new RegistryError('INVALID_RESPONSE', `blob ${found.digest} in ${client.registry}/${repo}: the registry reports no Content-Length`);
  const pushed = found ?? await client.pushBlob(repo, layer, {
    ...(headed === null ? { skipHead: true } : {}),
    ...(options.mountFrom ? { mountFrom: options.mountFrom } : {}),
    ...(options.uploadMode ? { mode: options.uploadMode } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    onBytes: (delta) => {
      sent.bytes += delta;
      progress.completed += delta;
      if (layer.size === undefined && layer.bytes === undefined) progress.total += delta; // learnt as it streams; a retry takes it back
      progress.send(index, 'progress', layer.digest);
    },
  });
  if (pushed.status !== 'uploaded') progress.completed += pushed.size;
  progress.send(index, pushed.status, pushed.digest);
  const descriptor: Descriptor = { mediaType: layer.mediaType, digest: pushed.digest, size: pushed.size, ...(layer.annotations ? { annotations: layer.annotations } : {}) };
  return { pushed, descriptor };
}

/** The exact manifest bytes {@link pushImage} sends for an image's config and layer descriptors (Docker schema 2 for a Docker config, else OCI). */
export function manifestBytes(image: Pick<ImageSource, 'manifestMediaType' | 'artifactType' | 'subject' | 'annotations'>, config: ConfigSource, configDigest: string, layers: readonly Descriptor[]): { bytes: Buffer; mediaType: string } {
  const mediaType = image.manifestMediaType ?? (config.mediaType === MediaType.dockerConfig ? MediaType.dockerManifest : MediaType.ociManifest);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType,
    ...(image.artifactType ? { artifactType: image.artifactType } : {}),
    config: { mediaType: config.mediaType, digest: configDigest, size: config.bytes.byteLength },
    layers,
    ...(image.subject ? { subject: image.subject } : {}),
    ...(image.annotations ? { annotations: image.annotations } : {}),
  };
  return { bytes: Buffer.from(JSON.stringify(manifest)), mediaType };
}

/**
 * Runs every layer's push; the first failure stops the others (their upload sessions are cancelled
 * as they unwind) and is thrown once all have settled, so no upload outlives the call.
 */
async function pushLayers<T>(layers: readonly LayerSource[], push: (layer: LayerSource, i: number, signal: AbortSignal) => Promise<T>, outer?: AbortSignal): Promise<T[]> {
  const stop = new AbortController();
  const signal = outer ? AbortSignal.any([outer, stop.signal]) : stop.signal;
  let first: { error: unknown } | undefined;
  const weight = (layer: LayerSource) => layer.weight ?? layer.size ?? layer.bytes?.byteLength ?? 0;
  // Started heaviest first (in order among equals): `push` queues them in the order it is called.
  const order = layers.map((_, i) => i).sort((a, b) => weight(layers[b]!) - weight(layers[a]!) || a - b);
  const pushes: Promise<T>[] = [];
  for (const i of order) {
    pushes[i] = push(layers[i]!, i, signal).catch((error: unknown) => {
      if (!signal.aborted) {
        first = { error };
        stop.abort(error);
      }
      throw error;
    });
  }
  const settled = await Promise.allSettled(pushes);
  if (outer?.aborted) throw abortReason(outer);
  if (first) throw first.error;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/**
 * Pushes an image: layers in parallel (HEAD first: present blobs are skipped; optional mounts;
 * layers of unknown digest stream through POST→PATCH→PUT?digest), then the config, then the
 * manifest under the tag (or by digest), then any extra tags.
 * @example
 * await pushImage('127.0.0.1:5000/app:1', { config: { bytes, mediaType: MediaType.ociConfig },
 *   layers: [{ mediaType: MediaType.ociLayer, open: () => createReadStream('layer.tar') }] });
 */
export async function pushImage(reference: string | Reference, image: ImageSource, options: PushImageOptions = {}): Promise<PushedImage> {
  const ref = typeof reference === 'string' ? parseReference(reference) : reference;
  const client = options.client ?? new RegistryClient(ref.registry, options);
  const limit = pLimit(options.concurrency ?? 4);
  const progress = new Progress(options.onProgress);
  progress.total = image.layers.reduce((sum, l) => sum + (l.size ?? l.bytes?.byteLength ?? 0), 0);
  const sent = { bytes: 0 };
  const headed = await headKnown(client, ref.repository, image.layers, options.concurrency ?? 4, options.signal);
  const layers = await pushLayers(
    image.layers,
    // null: HEADed and absent, so not HEADed again.
    (layer, i, signal) => limit(() => pushLayer(client, ref.repository, layer, i, { ...options, signal }, progress, sent, layer.digest === undefined ? undefined : (headed[i] ?? null))),
    options.signal,
  );
  const descriptors = layers.map((l) => l.descriptor);
  const config = typeof image.config === 'function' ? await image.config(descriptors) : image.config;
  const configDigest = sha256Digest(config.bytes);
  progress.total += config.bytes.byteLength;
  const configPushed = await pushLayer(client, ref.repository, { ...config, digest: configDigest, size: config.bytes.byteLength }, 'config', options, progress, sent);
  const { bytes, mediaType } = manifestBytes(image, config, configDigest, descriptors);
  const signal = options.signal ? { signal: options.signal } : {};
  const tags = [...new Set([...(ref.digest === undefined && ref.tag !== undefined ? [ref.tag] : []), ...(options.tags ?? [])])];
  const pushed =
    tags.length > 1
      ? await client.pushManifestTags(ref.repository, tags, bytes, mediaType, signal)
      : await client.pushManifest(ref.repository, tags[0] ?? ref.digest ?? sha256Digest(bytes), bytes, mediaType, signal);
  return {
    reference: formatReference({ registry: ref.registry, repository: ref.repository, digest: pushed.digest }),
    digest: pushed.digest,
    mediaType,
    manifest: bytes,
    layers: layers.map((l) => l.pushed),
    config: configPushed.pushed,
    uploadedBytes: sent.bytes,
  };
}
