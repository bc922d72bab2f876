import { createHash } from 'node:crypto';
import type { StorePath } from '@strata/closure';
import { parseDrvName } from './drv-name.js';
import type { ImageContents } from './image-contents.js';

// What the SPDX and CycloneDX documents share: the packages (one per store path) with their
// names, versions, NAR hashes and references, the image's own name, and the fixed times and
// identifiers that make the same image give the same bytes.

/** One store path as a package. */
export interface StorePackage {
  readonly path: string;
  /** The 32-character hash part: unique in the image, so it names the package in the document. */
  readonly hash: string;
  readonly name: string;
  readonly version: string;
  /** sha256 of the path's NAR serialisation, hex. */
  readonly narSha256: string;
  /** Nix's form of the same hash, `sha256-<base64>`. */
  readonly narHash: string;
  /** The store paths of the image it refers to, itself excluded, sorted. */
  readonly dependsOn: readonly string[];
}

/** The image, as the documents name it. */
export interface ImageSubject {
  readonly name: string;
  readonly tag: string;
  /** The image ID's hex. */
  readonly idHex: string;
  /** The document's one time (RFC 3339, whole seconds): the image's `created`. */
  readonly timestamp: string;
  /** Store paths no other path of the image refers to (what the image was made of). */
  readonly roots: readonly string[];
}

/** The image's `created` as an SPDX/CycloneDX timestamp; the epoch when it has none. */
function timestampOf(created: string | undefined): string {
  const ms = created === undefined ? Number.NaN : Date.parse(created);
  return new Date(Number.isNaN(ms) ? 0 : ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function splitRepoTag(repoTag: string | undefined): { name: string; tag: string } {
  if (repoTag === undefined) return { name: 'image', tag: '' };
  const colon = repoTag.lastIndexOf(':');
  return colon > repoTag.lastIndexOf('/') ? { name: repoTag.slice(0, colon), tag: repoTag.slice(colon + 1) } : { name: repoTag, tag: '' };
}

function packageOf(p: StorePath, present: ReadonlySet<string>): StorePackage {
  const base = p.path.slice('/nix/store/'.length);
  const { name, version } = parseDrvName(base.slice(33));
  const narHash = p.narHash ?? '';
  return {
    path: p.path,
    hash: base.slice(0, 32),
    name,
    version,
    narSha256: Buffer.from(narHash.replace(/^sha256-/, ''), 'base64').toString('hex'),
    narHash,
    dependsOn: p.references.filter((r) => r !== p.path && present.has(r)).sort(),
  };
}

/** The packages and the image subject of a document, sorted by store path. */
export function documentParts(contents: ImageContents): { packages: StorePackage[]; image: ImageSubject } {
  const present = new Set(contents.storePaths.map((p) => p.path));
  const packages = contents.storePaths.map((p) => packageOf(p, present)).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const referred = new Set(packages.flatMap((p) => p.dependsOn));
  const { name, tag } = splitRepoTag(contents.repoTags[0]);
  return {
    packages,
    image: {
      name,
      tag,
      idHex: contents.imageId.replace(/^sha256:/, ''),
      timestamp: timestampOf(contents.created),
      roots: packages.filter((p) => !referred.has(p.path)).map((p) => p.path),
    },
  };
}

/** A name-based (version 5) UUID of `name` (RFC 9562): the same image always gets the same serial number. */
export function uuidV5(name: string): string {
  // The RFC's URL namespace: the name is a URN of our own.
  const namespace = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');
  const bytes = createHash('sha1').update(namespace).update(name).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The tool named as the documents' creator. */
export const TOOL = { name: 'strata', version: '0.1.0' } as const;
