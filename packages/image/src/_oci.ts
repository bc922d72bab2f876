// The documents of an OCI image layout (image-spec image-layout.md, manifest.md, image-index.md),
// serialised once: the bytes written are the bytes hashed.
import { createHash } from 'node:crypto';
import { type Descriptor, MediaType } from '@strata/registry';
import type { Compression } from './compression.js';
import type { Platform } from './image.js';

/** The `oci-layout` file. */
export const OCI_LAYOUT_FILE = Buffer.from('{"imageLayoutVersion":"1.0.0"}');

/** containerd's (and podman's, docker's) full image name annotation on an index.json entry. */
export const CONTAINERD_NAME = 'io.containerd.image.name';
/** The OCI tag annotation on an index.json entry. */
export const REF_NAME = 'org.opencontainers.image.ref.name';

/** A placeholder of a digest's exact length, for sizes computed before digests are known. */
export const PLACEHOLDER_DIGEST = `sha256:${'0'.repeat(64)}`;

/** `sha256:<hex>` of `bytes`. */
export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The OCI layer media type for a compression. */
export function ociLayerType(compression: Compression): string {
  return compression === 'gzip' ? MediaType.ociLayerGzip : compression === 'zstd' ? MediaType.ociLayerZstd : MediaType.ociLayer;
}

/** The image manifest's exact bytes (OCI media types throughout). */
export function ociManifestBytes(config: Descriptor, layers: readonly Descriptor[]): Buffer {
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  return Buffer.from(JSON.stringify(manifest));
}

/** Splits `name:tag` at the tag's colon (a registry port's colon comes before the last `/`). */
function splitRepoTag(repoTag: string): { name: string; tag: string } {
  const colon = repoTag.lastIndexOf(':');
  if (colon <= repoTag.lastIndexOf('/')) return { name: repoTag, tag: 'latest' };
  return { name: repoTag.slice(0, colon), tag: repoTag.slice(colon + 1) };
}

/**
 * The index.json entries for a manifest: one per repo tag (image-spec #796), each with the tag as
 * `org.opencontainers.image.ref.name` (as buildkit and containerd write it: `skopeo copy oci:DIR:TAG`)
 * and the full name as `io.containerd.image.name` (which podman and containerd name the image by,
 * so `podman load` gives the same name as for a docker-archive); one unnamed entry without tags.
 */
export function indexEntries(manifest: Descriptor, repoTags: readonly string[], platform: Platform): Descriptor[] {
  const base = {
    mediaType: manifest.mediaType,
    digest: manifest.digest,
    size: manifest.size,
    platform: { architecture: platform.architecture, os: platform.os, ...(platform.variant ? { variant: platform.variant } : {}) },
  };
  if (repoTags.length === 0) return [base];
  return repoTags.map((repoTag) => ({ ...base, annotations: { [CONTAINERD_NAME]: repoTag, [REF_NAME]: splitRepoTag(repoTag).tag } }));
}

/** index.json's exact bytes. */
export function ociIndexBytes(manifests: readonly unknown[]): Buffer {
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
}
