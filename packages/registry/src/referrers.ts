import { RegistryHttpError } from './errors.js';
import type { HttpResponse } from './_http.js';
import { fetchManifest, parseIndex, pushManifest } from './manifests.js';
import { readLimited } from './_response.js';
import { repositoryScope } from './_scopes.js';
import type { RegistryTransport } from './_transport.js';
import { type Descriptor, type Index, MediaType } from './media-types.js';

/** The fallback tag for a subject's referrers: `sha256-<hex>`, algorithm cut to 32 and hex to 64 characters. */
export function referrersTag(digest: string): string {
  const [algorithm = '', encoded = ''] = digest.split(':');
  return `${algorithm.slice(0, 32)}-${encoded.slice(0, 64)}`.replace(/[^a-zA-Z0-9_.-]/g, '-');
}

function nextLink(res: HttpResponse, url: string): string | undefined {
  const link = res.headers.get('link');
  const match = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
  return match ? new URL(match[1]!, url).href : undefined;
}

async function fallbackIndex(t: RegistryTransport, repository: string, subject: string, signal?: AbortSignal): Promise<Index | undefined> {
  try {
    const fetched = await fetchManifest(t, repository, referrersTag(subject), signal);
    return parseIndex(fetched.bytes, `referrers tag ${referrersTag(subject)}`);
  } catch (error) {
    if (error instanceof RegistryHttpError && error.status === 404) return undefined;
    throw error;
  }
}

/**
 * Lists the manifests that refer to `subject` (distribution-spec 1.1 referrers API), following
 * `Link: rel="next"` pages; on 404 falls back to the `sha256-<hex>` tag index. The artifact type
 * filter is applied here when the registry did not (`OCI-Filters-Applied`).
 */
export async function listReferrers(t: RegistryTransport, repository: string, subject: string, options: { artifactType?: string; signal?: AbortSignal } = {}): Promise<Descriptor[]> {
  const out: Descriptor[] = [];
  let url: string | undefined = `/v2/${repository}/referrers/${subject}${options.artifactType ? `?artifactType=${encodeURIComponent(options.artifactType)}` : ''}`;
  let filtered = true;
  while (url) {
    const sent: Awaited<ReturnType<RegistryTransport['send']>> = await t.send({
      method: 'GET',
      url,
      headers: { accept: MediaType.ociIndex },
      scopes: [repositoryScope(repository, 'pull')],
      expect: [200, 404],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (sent.res.status === 404) {
      await sent.res.body?.cancel();
      const index = await fallbackIndex(t, repository, subject, options.signal);
      out.push(...(index?.manifests ?? []));
      filtered = false;
      break;
    }
    filtered &&= (sent.res.headers.get('oci-filters-applied') ?? '').includes('artifactType');
    out.push(...parseIndex(await readLimited(sent.res, 4 * 1024 * 1024, `referrers of ${subject}`)).manifests);
    url = nextLink(sent.res, sent.url);
  }
  return options.artifactType && !filtered ? out.filter((d) => d.artifactType === options.artifactType) : out;
}

/**
 * Records `referrer` in the subject's fallback tag index (read, add, dedupe, sort, write), for
 * registries that do not answer a manifest PUT with `OCI-Subject` (go-containerregistry does the same).
 */
export async function addReferrerToFallback(t: RegistryTransport, repository: string, subject: string, referrer: Descriptor, signal?: AbortSignal): Promise<void> {
  const existing = await fallbackIndex(t, repository, subject, signal);
  const manifests = [...(existing?.manifests ?? []).filter((d) => d.digest !== referrer.digest), referrer].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  const index: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
  await pushManifest(t, repository, referrersTag(subject), Buffer.from(JSON.stringify(index)), MediaType.ociIndex, signal);
}
