import { createHash } from 'node:crypto';
import { ManifestError } from './errors.js';

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/**
 * The default image tag when none is given: the first 32 hex digits of the sha256 of the image's
 * inputs serialised as JSON with sorted keys (name, config, layer store paths, owners, times,
 * base image...). Like nixpkgs' tag (the hash of the conf derivation) it is known before any layer
 * is packed and changes whenever an input does; unlike it, it does not need Nix to compute.
 * @example imageTag({ name: 'hello', storeLayers: [['/nix/store/…-hello']] }) // 'a3f1…' (32 chars)
 */
export function imageTag(inputs: unknown): string {
  return createHash('sha256').update(JSON.stringify(canonical(inputs))).digest('hex').slice(0, 32);
}

const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/**
 * The `RepoTags` entry for an image: the name lower-cased as nixpkgs does, then `:tag`.
 * @example repoTag('My-App', 'v1') // 'my-app:v1'
 */
export function repoTag(name: string, tag: string): string {
  if (name === '') throw new ManifestError('INVALID_OPTION', 'name: must not be empty');
  if (!TAG.test(tag)) throw new ManifestError('INVALID_OPTION', `tag: "${tag}" is not a valid tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})`);
  return `${name.toLowerCase()}:${tag}`;
}
