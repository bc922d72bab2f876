import { RegistryClient, type RegistryClientOptions } from './client.js';
import { sha256Digest } from './digest.js';
import { type Descriptor, type Manifest, MediaType } from './media-types.js';
import { formatReference, parseReference, type Reference } from './reference.js';

/** The empty JSON blob `{}` an artifact manifest names as its config (image-spec "Guidance for an empty descriptor"). */
const EMPTY = Buffer.from('{}');

/** What to attach: one blob, and what kind of artifact it is. */
export interface Artifact {
  /** The artifact's type, e.g. `application/spdx+json`. */
  readonly artifactType: string;
  /** The blob's media type. @default artifactType */
  readonly mediaType?: string;
  readonly bytes: Uint8Array;
  /** Manifest annotations (`org.opencontainers.image.created`, …). @default none */
  readonly annotations?: Readonly<Record<string, string>>;
}

/** Options for {@link attachArtifact}. */
export interface AttachArtifactOptions extends RegistryClientOptions {
  /** Reuse a client (and its tokens). @default a new client for the reference's registry */
  readonly client?: RegistryClient;
  readonly signal?: AbortSignal;
}

/** What {@link attachArtifact} pushed. */
export interface AttachedArtifact {
  /** `registry/repository@sha256:…` of the artifact manifest. */
  readonly reference: string;
  /** The artifact manifest's descriptor (as the referrers list names it). */
  readonly descriptor: Descriptor;
}

/**
 * Attaches an artifact (an SBOM, a signature) to a manifest already in the repository: pushes the
 * blob, then an OCI manifest with `artifactType`, the empty config and `subject` naming the
 * manifest, by digest. A registry that indexes referrers itself answers with `OCI-Subject`; for one
 * that does not (distribution 2.8), the subject's `sha256-<hex>` fallback tag index is updated, so
 * `listReferrers` finds it either way.
 * @example
 * await attachArtifact('127.0.0.1:5000/app', pushed.descriptor, { artifactType: 'application/spdx+json', bytes: sbom });
 */
export async function attachArtifact(repository: string | Reference, subject: Descriptor, artifact: Artifact, options: AttachArtifactOptions = {}): Promise<AttachedArtifact> {
  const ref = typeof repository === 'string' ? parseReference(repository) : repository;
  const client = options.client ?? new RegistryClient(ref.registry, options);
  const signal = options.signal ? { signal: options.signal } : {};
  const mediaType = artifact.mediaType ?? artifact.artifactType;
  const blob = { mediaType, digest: sha256Digest(artifact.bytes), size: artifact.bytes.byteLength };
  const config = { mediaType: MediaType.ociEmpty, digest: sha256Digest(EMPTY), size: EMPTY.length };
  await client.pushBlob(ref.repository, { digest: config.digest, size: config.size, bytes: EMPTY }, signal);
  await client.pushBlob(ref.repository, { digest: blob.digest, size: blob.size, bytes: artifact.bytes }, signal);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: artifact.artifactType,
    config,
    layers: [blob],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    ...(artifact.annotations ? { annotations: artifact.annotations } : {}),
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const pushed = await client.pushManifest(ref.repository, sha256Digest(bytes), bytes, MediaType.ociManifest, signal);
  return {
    reference: formatReference({ registry: ref.registry, repository: ref.repository, digest: pushed.digest }),
    descriptor: {
      mediaType: MediaType.ociManifest,
      digest: pushed.digest,
      size: bytes.length,
      artifactType: artifact.artifactType,
      ...(artifact.annotations ? { annotations: artifact.annotations } : {}),
    },
  };
}
