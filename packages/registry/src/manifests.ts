import type * as z from 'zod';
import type { HttpResponse } from './_http.js';
import { RegistryError, RegistryHttpError } from './errors.js';
import { isTransient } from './_retry.js';
import { createHash } from 'node:crypto';
import { digestAlgorithm, sha256Digest, verifyDigest } from './digest.js';
import { repositoryScope } from './_scopes.js';
import type { RegistryTransport } from './_transport.js';
import {
  type Descriptor,
  type Index,
  indexSchema,
  MANIFEST_ACCEPT,
  type Manifest,
  MediaType,
  manifestSchema,
} from './media-types.js';

/** Largest manifest accepted (go-containerregistry's limit; the spec asks registries for at least 4 MiB). */
export const MANIFEST_SIZE_LIMIT = 100 * 1024 * 1024;

/** A manifest or index as fetched: exact bytes, the type, and the digest computed from the bytes. */
export interface FetchedManifest {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly bytes: Buffer;
}

/** What a manifest PUT told us. */
export interface PushedManifest {
  readonly digest: string;
  /** The registry's `OCI-Subject` header: it indexed the subject itself (referrers API). */
  readonly subject?: string;
  /** Tags the registry confirmed with `OCI-Tag` (multi-tag PUT). */
  readonly tags?: readonly string[];
}

function baseType(contentType: string | null): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Works out the media type: the body's `mediaType` wins when Content-Type disagrees (some static registries lie). */
function resolveMediaType(contentType: string, bytes: Buffer, what: string): string {
  let declared: unknown;
  try {
    declared = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
  } catch {
    throw new RegistryError('MANIFEST_INVALID', `${what}: body is not JSON`);
  }
  const type = typeof declared === 'string' && declared ? declared : contentType;
  if (type === MediaType.dockerSchema1 || type === MediaType.dockerSchema1Signed) {
    throw new RegistryError('UNSUPPORTED_MEDIA_TYPE', `${what}: Docker schema 1 manifests are not supported`);
  }
  if (!(MANIFEST_ACCEPT as readonly string[]).includes(type)) {
    throw new RegistryError('UNSUPPORTED_MEDIA_TYPE', `${what}: unsupported manifest media type ${JSON.stringify(type)}`);
  }
  return type;
}

/**
 * GETs a manifest with all four manifest types in `Accept`. By digest, the body must hash to it;
 * by tag, the digest is computed from the bytes, which must agree with `Docker-Content-Digest` when sent.
 */
export async function fetchManifest(t: RegistryTransport, repository: string, reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
  const what = `manifest ${t.registry}/${repository}:${reference}`;
  const { res, bytes } = await t.read(
    {
      method: 'GET',
      url: `/v2/${repository}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT.join(', ') },
      scopes: [repositoryScope(repository, 'pull')],
      expect: [200],
      ...(signal ? { signal } : {}),
    },
    MANIFEST_SIZE_LIMIT,
    what,
    (bytes, res) => {
      if (!reference.includes(':')) {
        // By tag nothing pins the bytes, but a registry's Docker-Content-Digest that disagrees with
        // them means they were mangled on the way (or the registry lies): either way, not these bytes.
        const sent = res.headers.get('docker-content-digest');
        if (sent?.startsWith('sha256:')) verifyDigest(`${what} (Docker-Content-Digest)`, { digest: sent }, { digest: sha256Digest(bytes), size: bytes.length });
        return;
      }
      // Pinned by digest: the bytes must hash to it, whatever the algorithm.
      const algorithm = digestAlgorithm(reference);
      const actual = algorithm === 'sha256' ? sha256Digest(bytes) : `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
      verifyDigest(what, { digest: reference }, { digest: actual, size: bytes.length });
    },
  );
  const digest = sha256Digest(bytes);
  const mediaType = resolveMediaType(baseType(res.headers.get('content-type')), bytes, what);
  return { mediaType, digest, size: bytes.length, bytes };
}

/** HEADs a manifest: its descriptor, or undefined when the registry does not have it. */
export async function headManifest(t: RegistryTransport, repository: string, reference: string, signal?: AbortSignal): Promise<Descriptor | undefined> {
  const { res } = await t.send({
    method: 'HEAD',
    url: `/v2/${repository}/manifests/${reference}`,
    headers: { accept: MANIFEST_ACCEPT.join(', ') },
    scopes: [repositoryScope(repository, 'pull')],
    expect: [200, 404],
    ...(signal ? { signal } : {}),
  });
  if (res.status === 404) return undefined;
  const digest = res.headers.get('docker-content-digest');
  const size = Number(res.headers.get('content-length'));
  if (!digest || !Number.isInteger(size)) throw new RegistryError('INVALID_RESPONSE', `HEAD manifest ${repository}:${reference}: no Docker-Content-Digest or Content-Length`);
  return { mediaType: baseType(res.headers.get('content-type')), digest, size };
}

/** PUTs exact manifest bytes with `Content-Type` = its media type; checks the registry's digest if it sends one. */
export async function pushManifest(
  t: RegistryTransport,
  repository: string,
  reference: string,
  bytes: Uint8Array,
  mediaType: string,
  signal?: AbortSignal,
): Promise<PushedManifest> {
  const digest = sha256Digest(bytes);
  let res: HttpResponse;
  try {
    ({ res } = await t.send({
      method: 'PUT',
      url: `/v2/${repository}/manifests/${reference}`,
      headers: { 'content-type': mediaType },
      body: bytes,
      scopes: [repositoryScope(repository, 'pull', 'push')],
      expect: [200, 201, 202],
      ...(signal ? { signal } : {}),
    }));
  } catch (error) {
    if (signal?.aborted || !ambiguous(error)) throw error;
    // The registry may have stored it and lost only the answer: report what it holds, not the fault.
    const held = await headManifest(t, repository, reference.split('?')[0]!, signal).catch(() => 'unknown' as const);
    if (held !== 'unknown' && held?.digest === digest) return { digest };
    if (error instanceof RegistryError && held !== 'unknown') error.message += ` (the registry does not hold it: ${held ? `the tag points at ${held.digest}` : 'no such manifest'})`;
    throw error;
  }
  await res.body?.cancel();
  const echoed = res.headers.get('docker-content-digest');
  if (echoed?.startsWith('sha256:') && echoed !== digest) {
    throw new RegistryError('DIGEST_MISMATCH', `PUT manifest ${repository}:${reference}: registry stored ${echoed}, we sent ${digest}`);
  }
  const subject = res.headers.get('oci-subject');
  const tags = (res.headers.get('oci-tag') ?? '').split(',').map((t) => t.trim()).filter(Boolean);
  return { digest, ...(subject ? { subject } : {}), ...(tags.length ? { tags } : {}) };
}

/** A failure after which the request may or may not have taken effect: a lost connection, a timeout, a 5xx. */
function ambiguous(error: unknown): boolean {
  return isTransient(error) || (error instanceof RegistryHttpError && error.status >= 500);
}

function parseWith<T>(schema: z.ZodType<T>, bytes: Uint8Array, what: string): T {
  const result = schema.safeParse(JSON.parse(Buffer.from(bytes).toString('utf8')));
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new RegistryError('MANIFEST_INVALID', `${what}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return result.data;
}

/** Parses and validates fetched bytes as an image manifest. */
export function parseManifest(bytes: Uint8Array, what = 'manifest'): Manifest {
  return parseWith(manifestSchema, bytes, what) as Manifest;
}

/** Parses and validates fetched bytes as an image index or manifest list. */
export function parseIndex(bytes: Uint8Array, what = 'index'): Index {
  return parseWith(indexSchema, bytes, what) as Index;
}

