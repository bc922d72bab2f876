import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { sha256Digest } from './digest.js';
import { MediaType } from './media-types.js';
import { pushImage } from './push-image.js';

/** A registry that has every blob: answers HEADs after `ms`, counting how many are in flight. */
function registryWithEverything(ms: number) {
  let inFlight = 0;
  let most = 0;
  const requests: string[] = [];
  const fetch = (async (input: URL | string, init?: RequestInit) => {
    const url = new URL(String(input));
    const method = init?.method ?? 'GET';
    requests.push(`${method} ${url.pathname}`);
    if (url.pathname === '/v2/') return new Response('{}', { status: 200 });
    if (method === 'HEAD' && url.pathname.includes('/blobs/')) {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, ms));
      inFlight--;
      return new Response(null, { status: 200, headers: { 'content-length': '3', 'docker-content-digest': url.pathname.split('/').pop()! } });
    }
    if (method === 'PUT' && url.pathname.includes('/manifests/')) return new Response(null, { status: 201, headers: { 'docker-content-digest': sha256Digest(Buffer.from(await new Response(init?.body).arrayBuffer())) } });
    return new Response(null, { status: 404 });
  }) as typeof globalThis.fetch;
  return { fetch, requests, most: () => most };
}

describe('pushImage', () => {
  it('HEADs layers of known digest four times as many at once as it uploads, each once', async () => {
    const blobs = Array.from({ length: 10 }, (_, i) => Buffer.from(`l${i}`));
    const registry = registryWithEverything(20);
    const pushed = await pushImage(
      '127.0.0.1:5999/app:1',
      {
        layers: blobs.map((b) => ({ mediaType: MediaType.dockerLayer, digest: sha256Digest(b), size: b.length, bytes: b })),
        config: { bytes: Buffer.from('{}'), mediaType: MediaType.dockerConfig },
      },
      { fetch: registry.fetch, concurrency: 2 },
    );
    expect(pushed.layers.map((l) => l.status)).toEqual(blobs.map(() => 'exists'));
    expect(pushed.uploadedBytes).toBe(0);
    expect(registry.most()).toBe(8);
    // One HEAD a layer (none again inside the push of each) and one for the config.
    expect(registry.requests.filter((r) => r.startsWith('HEAD /v2/app/blobs/')).length).toBe(11);
  });

  it('refuses a layer the registry says it has, but with no Content-Length, when the size comes from the HEAD', async () => {
    const blob = Buffer.from('layer');
    const fetch = (async (input: URL | string, init?: RequestInit) => {
      const url = new URL(String(input));
      if (url.pathname === '/v2/') return new Response('{}', { status: 200 });
      if (init?.method === 'HEAD') return new Response(null, { status: 200 });
      return new Response(null, { status: 404 });
    }) as typeof globalThis.fetch;
    const image = { layers: [{ mediaType: MediaType.dockerLayer, digest: sha256Digest(blob), open: () => Readable.from([blob]) }], config: { bytes: Buffer.from('{}'), mediaType: MediaType.dockerConfig } };
    await expect(pushImage('127.0.0.1:5999/app:1', image, { fetch })).rejects.toMatchObject({ code: 'INVALID_RESPONSE', message: expect.stringContaining('no Content-Length') });
  });

  it('stops the other HEADs when one fails', async () => {
    const blobs = Array.from({ length: 6 }, (_, i) => Buffer.from(`l${i}`));
    let aborted = 0;
    const fetch = (async (input: URL | string, init?: RequestInit) => {
      const url = new URL(String(input));
      if (url.pathname === '/v2/') return new Response('{}', { status: 200 });
      if (url.pathname.endsWith(sha256Digest(blobs[0]!))) return new Response('no', { status: 400 });
      // The others never answer: only an abort ends them.
      return new Promise<Response>((_, reject) =>
        init?.signal?.addEventListener('abort', () => {
          aborted++;
          reject(init.signal!.reason);
        }),
      );
    }) as typeof globalThis.fetch;
    const image = { layers: blobs.map((b) => ({ mediaType: MediaType.dockerLayer, digest: sha256Digest(b), size: b.length, bytes: b })), config: { bytes: Buffer.from('{}'), mediaType: MediaType.dockerConfig } };
    await expect(pushImage('127.0.0.1:5999/app:1', image, { fetch, retry: { attempts: 1 } })).rejects.toMatchObject({ status: 400 });
    expect(aborted).toBe(5);
  });
});

