import type { Readable } from 'node:stream';
import { fetchBlob, headBlob } from './blobs.js';
import { fetchManifest, type FetchedManifest, headManifest, type PushedManifest, pushManifest } from './manifests.js';
import type { Descriptor } from './media-types.js';
import { addReferrerToFallback, listReferrers } from './referrers.js';
import { repositoryScope } from './_scopes.js';
import { RegistryTransport, type TransportOptions } from './_transport.js';
import { type BlobSource, type PushBlobOptions, type PushedBlob, pushBlob } from './upload.js';
import * as z from 'zod';
import { sha256Digest } from './digest.js';
import { RegistryError } from './errors.js';

/** Options for {@link RegistryClient}: how to reach and authenticate to the registry. */
export type RegistryClientOptions = TransportOptions;

/** Per-call options: a cancellation signal. */
export interface CallOptions {
  readonly signal?: AbortSignal;
}

const tagList = z.object({ name: z.string(), tags: z.array(z.string()).nullable() });

/**
 * A client for one registry, grouped by resource (blobs, manifests, tags, referrers). It pings
 * once, answers Basic or Bearer challenges (tokens cached per scope set), retries with backoff and
 * verifies every digest it reads. Concurrent pushes of the same blob share one upload.
 * @example
 * const client = new RegistryClient('127.0.0.1:5000');
 * const m = await client.fetchManifest('app', 'latest');
 */
export class RegistryClient {
  /** The registry host (with port) this client talks to. */
  readonly registry: string;
  readonly #transport: RegistryTransport;
  readonly #inflight = new Map<string, Promise<PushedBlob>>();

  constructor(registry: string, options: RegistryClientOptions = {}) {
    this.registry = registry;
    this.#transport = new RegistryTransport(registry, options);
  }

  /** `GET /v2/`: resolves when the registry speaks the v2 API; learns its auth challenge. */
  async ping(options: CallOptions = {}): Promise<void> {
    await this.#transport.ping(options.signal);
  }

  /** The blob's size if the repository has it, else undefined. */
  headBlob(repository: string, digest: string, options: CallOptions = {}): Promise<number | undefined> {
    return headBlob(this.#transport, repository, digest, options.signal);
  }

  /** A stream of the blob that errors with DIGEST_MISMATCH / SIZE_MISMATCH instead of ending on bad bytes. */
  fetchBlob(repository: string, descriptor: Descriptor, options: CallOptions = {}): Readable {
    return fetchBlob(this.#transport, repository, descriptor, options.signal);
  }

  /** Reads a whole (small) blob into memory, verified; refuses blobs over `limit` bytes. */
  async fetchBlobBytes(repository: string, descriptor: Descriptor, options: CallOptions & { limit?: number } = {}): Promise<Buffer> {
    const limit = options.limit ?? 64 * 1024 * 1024;
    if (descriptor.size > limit) throw new RegistryError('INVALID_RESPONSE', `blob ${descriptor.digest}: ${descriptor.size} bytes is over the ${limit} byte limit`);
    for (let attempt = 1; ; attempt++) {
      try {
        const chunks: Buffer[] = [];
        for await (const chunk of this.fetchBlob(repository, descriptor, options)) chunks.push(chunk as Buffer);
        return Buffer.concat(chunks);
      } catch (error) {
        // Corrupt bytes are fetched once more before the mismatch is reported (a proxy may have mangled them).
        if (attempt > 1 || !(error instanceof RegistryError && (error.code === 'DIGEST_MISMATCH' || error.code === 'SIZE_MISMATCH'))) throw error;
      }
    }
  }

  /** Uploads a blob unless present (see {@link pushBlob}); concurrent calls for one digest share the upload. */
  pushBlob(repository: string, source: BlobSource, options: PushBlobOptions = {}): Promise<PushedBlob> {
    if (!source.digest) return pushBlob(this.#transport, repository, source, options);
    const key = `${repository}@${source.digest}`;
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = pushBlob(this.#transport, repository, source, options).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  /** GETs a manifest or index by tag or digest (verified when by digest). */
  fetchManifest(repository: string, reference: string, options: CallOptions = {}): Promise<FetchedManifest> {
    return fetchManifest(this.#transport, repository, reference, options.signal);
  }

  /** HEADs a manifest: its descriptor, or undefined when absent. Does not count against Hub pull quotas. */
  headManifest(repository: string, reference: string, options: CallOptions = {}): Promise<Descriptor | undefined> {
    return headManifest(this.#transport, repository, reference, options.signal);
  }

  /**
   * PUTs a manifest's exact bytes under a tag or its digest. When it has a `subject` and the
   * registry does not index referrers itself (no `OCI-Subject`), the fallback tag index is updated.
   */
  async pushManifest(repository: string, reference: string, bytes: Uint8Array, mediaType: string, options: CallOptions = {}): Promise<PushedManifest> {
    const pushed = await pushManifest(this.#transport, repository, reference, bytes, mediaType, options.signal);
    const parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as { subject?: Descriptor; artifactType?: string; config?: Descriptor; annotations?: Record<string, string> };
    if (parsed.subject && !pushed.subject) {
      const artifactType = parsed.artifactType ?? parsed.config?.mediaType;
      const referrer: Descriptor = {
        mediaType,
        digest: pushed.digest,
        size: bytes.byteLength,
        ...(artifactType ? { artifactType } : {}),
        ...(parsed.annotations ? { annotations: parsed.annotations } : {}),
      };
      await addReferrerToFallback(this.#transport, repository, parsed.subject.digest, referrer, options.signal);
    }
    return pushed;
  }

  /**
   * Puts one manifest under several tags. Tries the single `PUT …/manifests/<digest>?tag=a&tag=b`
   * (distribution-spec 1.1.1); a registry that does not confirm the tags with `OCI-Tag` gets one
   * PUT per tag instead.
   */
  async pushManifestTags(repository: string, tags: readonly string[], bytes: Uint8Array, mediaType: string, options: CallOptions = {}): Promise<PushedManifest> {
    const digest = sha256Digest(bytes);
    const query = tags.map((t) => `tag=${encodeURIComponent(t)}`).join('&');
    const pushed = await this.pushManifest(repository, tags.length > 0 ? `${digest}?${query}` : digest, bytes, mediaType, options);
    const confirmed = new Set(pushed.tags ?? []);
    for (const tag of tags) if (!confirmed.has(tag)) await this.pushManifest(repository, tag, bytes, mediaType, options);
    return pushed;
  }

  /** Deletes a manifest by digest (the registry must allow deletes). */
  async deleteManifest(repository: string, digest: string, options: CallOptions = {}): Promise<void> {
    const { res } = await this.#transport.send({
      method: 'DELETE',
      url: `/v2/${repository}/manifests/${digest}`,
      scopes: [repositoryScope(repository, 'pull', 'push', 'delete')],
      expect: [202, 200, 204],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    await res.body?.cancel();
  }

  /** Lists a repository's tags, following `Link: rel="next"` pages. */
  async listTags(repository: string, options: CallOptions = {}): Promise<string[]> {
    const tags: string[] = [];
    let url: string | undefined = `/v2/${repository}/tags/list`;
    while (url) {
      const { res, url: at, bytes } = await this.#transport.read(
        { method: 'GET', url, scopes: [repositoryScope(repository, 'pull')], expect: [200], ...(options.signal ? { signal: options.signal } : {}) },
        16 * 1024 * 1024,
        `tags of ${repository}`,
      );
      const body = tagList.safeParse(JSON.parse(bytes.toString('utf8')));
      if (!body.success) throw new RegistryError('INVALID_RESPONSE', `GET tags of ${repository}: ${body.error.issues[0]?.path.join('.')}: ${body.error.issues[0]?.message}`);
      tags.push(...(body.data.tags ?? []));
      const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get('link') ?? '');
      url = link ? new URL(link[1]!, at).href : undefined;
    }
    return tags;
  }

  /** Lists manifests whose `subject` is `digest` (referrers API, or the fallback tag). */
  listReferrers(repository: string, digest: string, options: CallOptions & { artifactType?: string } = {}): Promise<Descriptor[]> {
    return listReferrers(this.#transport, repository, digest, options);
  }
}
