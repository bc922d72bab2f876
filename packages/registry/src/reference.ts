import { isIP } from 'node:net';
import { RegistryError } from './errors.js';

/** The registry name Docker Hub references normalise to. */
export const DOCKER_HUB = 'docker.io';
/** Docker Hub's API endpoint. */
export const DOCKER_HUB_API = 'registry-1.docker.io';
/** The key Docker Hub credentials are stored under in docker's config.json. */
export const DOCKER_HUB_CREDENTIAL_KEY = 'https://index.docker.io/v1/';

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const REPOSITORY = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const SHA256 = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::[0-9]+)?$/;

/** A parsed, normalised image reference: `registry/repository[:tag][@digest]`. */
export interface Reference {
  /** Registry host as written (normalised: Hub is `docker.io`), with port. */
  readonly registry: string;
  /** Repository path, e.g. `library/redis`. */
  readonly repository: string;
  /** Tag, when given (`latest` when neither tag nor digest was). */
  readonly tag?: string;
  /** Digest, when given; it wins over the tag when both are present. */
  readonly digest?: string;
}

/** Options for {@link parseReference}. */
export interface ParseReferenceOptions {
  /** Registry for names with no registry part. @default 'docker.io' */
  readonly defaultRegistry?: string;
  /** Tag for names with neither tag nor digest. @default 'latest' */
  readonly defaultTag?: string;
}

function invalid(input: string, why: string): RegistryError {
  return new RegistryError('INVALID_REFERENCE', `reference ${JSON.stringify(input)}: ${why}`);
}

function splitRegistry(name: string, defaultRegistry: string): [string, string] {
  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  // The first component is a registry only if it looks like a host (docker/distribution reference rules).
  if (slash !== -1 && (first.includes('.') || first.includes(':') || first === 'localhost') && first === first.toLowerCase()) {
    return [first, name.slice(slash + 1)];
  }
  return [defaultRegistry, name];
}

/**
 * Parses and normalises an image reference. Hub names gain `library/`, `index.docker.io` becomes
 * `docker.io`, the default tag is `latest`, and `name:tag@digest` keeps both (the digest wins).
 * @example parseReference('redis') // { registry: 'docker.io', repository: 'library/redis', tag: 'latest' }
 * @example parseReference('127.0.0.1:5000/app@sha256:…') // { registry: '127.0.0.1:5000', repository: 'app', digest }
 */
export function parseReference(input: string, options: ParseReferenceOptions = {}): Reference {
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(input, `digest ${JSON.stringify(digest)} is not algorithm:hex`);
    if (digest.startsWith('sha256:') && !SHA256.test(digest)) throw invalid(input, 'sha256 digest must be 64 lowercase hex characters');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(input, `tag ${JSON.stringify(tag)} does not match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}`);
  }
  let [registry, repository] = splitRegistry(rest, options.defaultRegistry ?? DOCKER_HUB);
  if (repository === '') throw invalid(input, 'repository name is empty');
  if (!HOST.test(registry)) throw invalid(input, `registry ${JSON.stringify(registry)} is not a host[:port]`);
  if (registry === 'index.docker.io' || registry === DOCKER_HUB_API) registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (!REPOSITORY.test(repository)) throw invalid(input, `repository ${JSON.stringify(repository)} must be lowercase path components`);
  if (registry.length + 1 + repository.length > 255) throw invalid(input, 'name is longer than 255 characters');
  if (tag === undefined && digest === undefined) tag = options.defaultTag ?? 'latest';
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** Formats a reference back to `registry/repository[:tag][@digest]`. */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The tag or digest a manifest request names: the digest when present, else the tag. */
export function manifestIdentifier(ref: Reference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/** The host part without the port, and without IPv6 brackets. */
export function hostName(registry: string): string {
  if (registry.startsWith('[')) return registry.slice(1, registry.indexOf(']'));
  const colon = registry.lastIndexOf(':');
  return colon === -1 ? registry : registry.slice(0, colon);
}

/** True for loopback, RFC 1918, link-local and unique-local IP literals and `localhost` names. */
export function isPrivateHost(host: string): boolean {
  const name = hostName(host).toLowerCase();
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  const family = isIP(name);
  if (family === 4) {
    const [a = 0, b = 0] = name.split('.').map(Number);
    return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254) || a === 0;
  }
  if (family === 6) return name === '::1' || /^f[cd]/.test(name) || /^fe[89ab]/.test(name) || name.startsWith('::ffff:127.');
  return false;
}

/** True for `localhost`, `*.localhost`, 127.0.0.0/8 and `::1`. */
export function isLoopbackHost(host: string): boolean {
  const name = hostName(host).toLowerCase();
  return name === 'localhost' || name.endsWith('.localhost') || (isIP(name) === 4 && name.startsWith('127.')) || name === '::1';
}

/** True when credentials may travel to `url`: over https, or to a loopback host (nothing crosses a network). */
export function mayCarryCredentials(url: URL): boolean {
  return url.protocol === 'https:' || isLoopbackHost(url.host);
}

/**
 * The URL scheme to reach a registry with: https, except plain http for loopback hosts or when
 * `insecure` is set. Unlike go-containerregistry, RFC 1918 hosts still get https unless asked:
 * a LAN is not a trusted network.
 */
export function registryScheme(registry: string, insecure = false): 'http' | 'https' {
  return insecure || isLoopbackHost(registry) ? 'http' : 'https';
}

/** The host to send API requests to (`registry-1.docker.io` for Hub). */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}
