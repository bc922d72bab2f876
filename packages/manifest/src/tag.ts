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

// The distribution reference grammar (docker/distribution reference/regexp.go, OCI's name rule):
// an optional registry host (DNS labels or a bracketed IPv6 address, with a port), then path
// components of lower-case letters and digits joined by `.`, `_`, `__` or dashes.
const HOST_LABEL = '[a-z0-9](?:[a-z0-9-]*[a-z0-9])?';
const HOST = `(?:${HOST_LABEL}(?:\\.${HOST_LABEL})*|\\[[0-9a-f:.]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^(?:${HOST}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const NAME_RULE =
  'lower-case letters and digits, joined by ".", "_", "__" or "-" within each "/"-separated component, optionally after a registry host[:port]/ (e.g. registry.example.com:5000/team/app)';

/**
 * Checks an image name against the reference grammar, after lower-casing it as nixpkgs does
 * (`My-App` is valid and becomes `my-app`); `field` names the option in the message.
 * @example checkImageName('localhost:5000/Team/App') // 'localhost:5000/team/app'
 */
export function checkImageName(name: string, field = 'name'): string {
  if (name === '') throw new ManifestError('INVALID_OPTION', `${field}: must not be empty`);
  const lower = name.toLowerCase();
  if (lower.length > 255 || !NAME.test(lower)) {
    const shown = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
    throw new ManifestError('INVALID_OPTION', `${field}: ${shown} is not a valid image name: ${lower.length > 255 ? 'at most 255 characters' : NAME_RULE}`);
  }
  return lower;
}

/**
 * The `RepoTags` entry for an image: the name lower-cased as nixpkgs does, then `:tag`. Both are
 * checked against the reference grammar, so every archive written loads in podman and docker.
 * @example repoTag('My-App', 'v1') // 'my-app:v1'
 */
export function repoTag(name: string, tag: string): string {
  const lower = checkImageName(name);
  if (!TAG.test(tag)) throw new ManifestError('INVALID_OPTION', `tag: ${JSON.stringify(tag)} is not a valid tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})`);
  return `${lower}:${tag}`;
}
