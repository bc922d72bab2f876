import type { Readable } from 'node:stream';
import type { HttpResponse } from './_http.js';
import { DigestCounter, verifyDigest } from './digest.js';
import { RegistryError, RegistryHttpError } from './errors.js';
import { headBlob } from './blobs.js';
import { abortReason, backoffDelay, DEFAULT_ATTEMPTS, isRetryableStatus, isTransient, sleep } from './_retry.js';
import { displayUrl } from './_response.js';
import { repositoryScope } from './_scopes.js';
import type { RegistryTransport } from './_transport.js';
import { isPrivateHost } from './reference.js';

/** Where a blob's bytes come from. Give `bytes`, or `open()` that streams them (again on a retry). */
export interface BlobSource {
  /** Known digest; when absent it is computed while streaming (POST → PATCH → PUT?digest). */
  readonly digest?: string;
  /** Known size in bytes; sent as Content-Length. */
  readonly size?: number;
  readonly bytes?: Uint8Array;
  /**
   * Streams the bytes (again on a retry). A stream that carries `digest: Promise<string>` (a
   * producer that hashes its own bytes, such as a strata layer) is not hashed a second time: that
   * promise is taken as the sha256 of exactly the bytes it yields.
   */
  open?(): Readable | AsyncIterable<Uint8Array>;
}

/** How a blob reached the registry. */
export type BlobPushStatus = 'exists' | 'mounted' | 'uploaded';

/** The outcome of {@link pushBlob}. */
export interface PushedBlob {
  readonly digest: string;
  readonly size: number;
  readonly status: BlobPushStatus;
}

/** Options for {@link pushBlob}. */
export interface PushBlobOptions {
  /** Try a cross-repository mount from this repository of the same registry first. */
  readonly mountFrom?: string;
  /** `monolithic` (POST + PUT), `streamed` (POST + one PATCH + PUT) or `chunked` (PATCH per chunk). @default 'monolithic' when the digest is known, else 'streamed' */
  readonly mode?: 'monolithic' | 'streamed' | 'chunked';
  /** Chunk size for `chunked` uploads (raised to the registry's `OCI-Chunk-Min-Length`). @default 8 MiB */
  readonly chunkSize?: number;
  /** Skip the existence HEAD (the caller already did it). @default false */
  readonly skipHead?: boolean;
  /** Bytes sent; negative when a retry starts over. */
  readonly onBytes?: (delta: number) => void;
  readonly signal?: AbortSignal;
}

/** Resolves an upload `Location` against the request URL, refusing private hosts for a public registry. */
function nextLocation(res: HttpResponse, requestUrl: string, registry: string): string {
  const location = res.headers.get('location');
  if (!location) throw new RegistryError('INVALID_RESPONSE', `${displayUrl(requestUrl)}: ${res.status} without a Location header`);
  const url = new URL(location, requestUrl);
  if (isPrivateHost(url.host) && !isPrivateHost(registry)) {
    throw new RegistryError('INVALID_RESPONSE', `${displayUrl(requestUrl)}: upload Location points at private host ${url.host}`);
  }
  return url.href;
}

/** Adds `digest=` to a Location, keeping its query (upload state, signatures) byte for byte. */
function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

interface Session {
  readonly t: RegistryTransport;
  readonly repository: string;
  readonly options: PushBlobOptions;
}

function send(s: Session, method: string, url: string, extra: Partial<Parameters<RegistryTransport['send']>[0]> & { expect: readonly number[] }) {
  return s.t.send({ method, url, scopes: [repositoryScope(s.repository, 'pull', 'push')], retry: false, ...(s.options.signal ? { signal: s.options.signal } : {}), ...extra });
}

/** POST to start an upload (with `mount` when asked); returns 'mounted' or the session Location. */
async function startUpload(s: Session, digest: string | undefined): Promise<{ mounted: true } | { location: string; minChunk: number }> {
  const base = `/v2/${s.repository}/blobs/uploads/`;
  if (digest && s.options.mountFrom && s.options.mountFrom !== s.repository) {
    try {
      const url = `${base}?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(s.options.mountFrom)}`;
      const { res, url: at } = await send(s, 'POST', url, { expect: [201, 202], scopes: [repositoryScope(s.repository, 'pull', 'push'), repositoryScope(s.options.mountFrom, 'pull')] });
      await res.body?.cancel();
      if (res.status === 201) return { mounted: true };
      return { location: nextLocation(res, at, s.t.registry), minChunk: Number(res.headers.get('oci-chunk-min-length') ?? 0) };
    } catch (error) {
      if (s.options.signal?.aborted) throw error;
      // A refused or broken mount is not fatal: upload instead (go-containerregistry #1404).
    }
  }
  const { res, url } = await send(s, 'POST', base, { expect: [202], headers: { 'content-length': '0' }, retry: true });
  await res.body?.cancel();
  return { location: nextLocation(res, url, s.t.registry), minChunk: Number(res.headers.get('oci-chunk-min-length') ?? 0) };
}

/**
 * The source as a request body that counts and hashes what it sends (progress, and the digest when
 * it is not known). Producing it again (a 307, a new token) starts a fresh count and takes back the
 * bytes reported for the abandoned pass.
 */
class CountedBody {
  #counter = new DigestCounter();
  #own: Promise<string> | undefined;
  #used = false;
  constructor(
    readonly source: BlobSource,
    readonly onBytes?: (n: number) => void,
  ) {}
  get counter(): DigestCounter {
    return this.#counter;
  }
  /** The digest of the bytes sent: the producer's own when it hashes itself, else ours. Valid once the body has ended. */
  async digest(): Promise<string> {
    return this.#own ? await this.#own : this.#counter.digest();
  }
  readonly body = (): AsyncIterable<Uint8Array> => {
    if (this.#used) {
      this.onBytes?.(-this.#counter.size);
      this.#counter = new DigestCounter();
    }
    this.#used = true;
    return this.#stream(this.#counter);
  };
  async *#stream(counter: DigestCounter): AsyncGenerator<Uint8Array> {
    const input = this.source.bytes ? [this.source.bytes] : this.source.open ? this.source.open() : [];
    const own = (input as { digest?: unknown }).digest;
    this.#own = own instanceof Promise ? (own as Promise<string>) : undefined;
    for await (const chunk of input as AsyncIterable<Uint8Array>) {
      if (this.#own) counter.size += chunk.byteLength;
      else counter.update(chunk);
      this.onBytes?.(chunk.byteLength);
      yield chunk;
    }
  }
}

async function finish(s: Session, location: string, digest: string): Promise<void> {
  const { res } = await send(s, 'PUT', withDigest(location, digest), { expect: [201, 204], headers: { 'content-length': '0' } });
  await res.body?.cancel();
}

async function uploadMonolithic(s: Session, location: string, source: BlobSource, counted: CountedBody): Promise<void> {
  const size = source.size ?? source.bytes?.byteLength;
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
  if (size !== undefined) headers['content-length'] = String(size);
  const { res } = await send(s, 'PUT', withDigest(location, source.digest!), { expect: [201, 204], headers, body: counted.body });
  await res.body?.cancel();
}

async function uploadStreamed(s: Session, location: string, source: BlobSource, counted: CountedBody): Promise<string> {
  const size = source.size ?? source.bytes?.byteLength;
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
  // A Content-Length avoids chunked transfer encoding, which some registries handle very slowly (ggcr #1193).
  if (size !== undefined) headers['content-length'] = String(size);
  const { res, url } = await send(s, 'PATCH', location, { expect: [202, 201, 204], headers, body: counted.body });
  await res.body?.cancel();
  const { counter } = counted;
  const digest = await counted.digest();
  if (source.digest) verifyDigest(`blob upload to ${s.repository}`, { digest: source.digest, ...(size !== undefined ? { size } : {}) }, { digest, size: counter.size });
  await finish(s, res.headers.get('location') ? nextLocation(res, url, s.t.registry) : location, digest);
  return digest;
}

async function* rechunk(input: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let length = 0;
  for await (const chunk of input) {
    pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    length += chunk.byteLength;
    while (length >= size) {
      const all = Buffer.concat(pending);
      yield all.subarray(0, size);
      pending = [all.subarray(size)];
      length -= size;
    }
  }
  if (length > 0) yield Buffer.concat(pending);
}

/** PATCHes one chunk; after a 416 asks the session where it is and resends once if it is right here. */
async function sendChunk(s: Session, location: string, chunk: Buffer, offset: number): Promise<string> {
  let at = location;
  for (let tries = 0; tries < 2; tries++) {
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(chunk.length), 'content-range': `${offset}-${offset + chunk.length - 1}` };
    const { res, url } = await send(s, 'PATCH', at, { expect: [202, 201, 204, 416], headers, body: chunk });
    await res.body?.cancel();
    if (res.status !== 416) return res.headers.get('location') ? nextLocation(res, url, s.t.registry) : at;
    const { res: state, url: stateUrl } = await send(s, 'GET', at, { expect: [204] });
    await state.body?.cancel();
    const end = /^(?:bytes=)?0-(\d+)$/.exec(state.headers.get('range') ?? '');
    const have = end ? Number(end[1]) + 1 : 0;
    if (have !== offset) throw new RegistryError('BLOB_UPLOAD_INVALID', `PATCH ${displayUrl(at)}: 416, the registry has ${have} bytes, this chunk starts at ${offset}`);
    if (state.headers.get('location')) at = nextLocation(state, stateUrl, s.t.registry);
  }
  throw new RegistryError('BLOB_UPLOAD_INVALID', `PATCH ${displayUrl(location)}: chunk at ${offset} refused twice with 416`);
}

async function uploadChunked(s: Session, start: string, minChunk: number, source: BlobSource, counted: CountedBody): Promise<string> {
  let location = start;
  let offset = 0;
  const size = Math.max(s.options.chunkSize ?? 8 * 1024 * 1024, minChunk);
  // Chunks are buffers: a replayed PATCH resends the chunk, not the stream.
  for await (const chunk of rechunk(counted.body(), size)) {
    location = await sendChunk(s, location, chunk, offset);
    offset += chunk.length;
  }
  const digest = await counted.digest();
  if (source.digest) verifyDigest(`blob upload to ${s.repository}`, { digest: source.digest }, { digest, size: counted.counter.size });
  await finish(s, location, digest);
  return digest;
}

/** The longest a best-effort DELETE of an abandoned upload session may take. */
const CANCEL_TIMEOUT_MS = 5000;

async function cancelUpload(s: Session, location: string): Promise<void> {
  try {
    // Retried like any idempotent request, but bounded: cancelling must never hold up the abort or failure it follows.
    const signal = AbortSignal.timeout(CANCEL_TIMEOUT_MS);
    const { res } = await s.t.send({ method: 'DELETE', url: location, scopes: [repositoryScope(s.repository, 'pull', 'push')], expect: [200, 202, 204, 404], signal });
    await res.body?.cancel();
  } catch {
    // Cancelling an abandoned session is best effort (spec "Cancel a blob upload").
  }
}

/** The size of a blob the registry already has: ours if we know it, else what a HEAD says. */
async function knownSize(s: Session, source: BlobSource, headed: number | undefined): Promise<number> {
  const size = source.size ?? source.bytes?.byteLength ?? headed ?? (await headBlob(s.t, s.repository, source.digest!, s.options.signal));
  if (size === undefined || !Number.isSafeInteger(size)) {
    throw new RegistryError('INVALID_RESPONSE', `blob ${source.digest} in ${s.t.registry}/${s.repository}: the registry reports no Content-Length`);
  }
  return size;
}

/** One attempt: POST (or mount), then the chosen upload flow; the session is DELETEd on failure. */
async function uploadOnce(s: Session, source: BlobSource, counted: CountedBody): Promise<PushedBlob> {
  const started = await startUpload(s, source.digest);
  if ('mounted' in started) return { digest: source.digest!, size: await knownSize(s, source, undefined), status: 'mounted' };
  const mode = s.options.mode ?? (source.digest ? 'monolithic' : 'streamed');
  try {
    let digest: string;
    if (mode === 'chunked') digest = await uploadChunked(s, started.location, started.minChunk, source, counted);
    else if (mode === 'streamed' || !source.digest) digest = await uploadStreamed(s, started.location, source, counted);
    else {
      await uploadMonolithic(s, started.location, source, counted);
      digest = source.digest;
    }
    return { digest, size: counted.counter.size, status: 'uploaded' };
  } catch (error) {
    await cancelUpload(s, started.location);
    throw error;
  }
}

function retryable(error: unknown): boolean {
  if (error instanceof RegistryHttpError) return isRetryableStatus(error.status);
  return isTransient(error);
}

/**
 * Pushes one blob: HEAD (skip if present), optional cross-repository mount, then a monolithic,
 * streamed or chunked upload. Whole uploads are retried on resets and 5xx/429 when the source can
 * be read again; progress sent so far is taken back before a retry.
 * @example await pushBlob(transport, 'app', { bytes: configBytes, digest, size })
 */
export async function pushBlob(t: RegistryTransport, repository: string, source: BlobSource, options: PushBlobOptions = {}): Promise<PushedBlob> {
  if (!source.bytes && !source.open) throw new TypeError('pushBlob: source needs bytes or open()');
  const s: Session = { t, repository, options };
  if (source.digest && !options.skipHead) {
    const size = await headBlob(t, repository, source.digest, options.signal);
    if (size !== undefined) return { digest: source.digest, size: await knownSize(s, source, size), status: 'exists' };
  }
  const attempts = t.retryOptions.attempts ?? DEFAULT_ATTEMPTS;
  let session = s;
  for (let attempt = 1; ; attempt++) {
    const counted = new CountedBody(source, options.onBytes);
    try {
      return await uploadOnce(session, source, counted);
    } catch (error) {
      if (options.signal?.aborted) {
        options.onBytes?.(-counted.counter.size);
        throw abortReason(options.signal);
      }
      // The final PUT may have been stored with only its answer lost: a HEAD tells, and saves a re-upload.
      if (source.digest && retryable(error) && (await headBlob(t, repository, source.digest, options.signal).catch(() => undefined)) === counted.counter.size) {
        return { digest: source.digest, size: counted.counter.size, status: 'uploaded' };
      }
      options.onBytes?.(-counted.counter.size);
      // Some proxies refuse POST→PUT-with-body but take PATCH (buildx #196): switch to chunked once.
      if (session.options.mode !== 'chunked' && source.digest && error instanceof RegistryHttpError && [405, 411, 415, 501].includes(error.status)) {
        session = { ...s, options: { ...options, mode: 'chunked' } };
        attempt--;
        continue;
      }
      if (attempt >= attempts || !retryable(error)) throw error;
      await sleep(backoffDelay(attempt, t.retryOptions), options.signal);
    }
  }
}
