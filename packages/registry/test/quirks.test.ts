import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MediaType, pushImage, RegistryClient, sha256Digest } from '../src/index.js';
import { configFor, randomLayers } from './_fixtures.js';

/** What the fake registry does differently from distribution. */
interface Quirks {
  /** Answer PATCH with 201 (ECR). */
  patch201?: boolean;
  /** Refuse a PUT that carries a body with 405 (Artifactory behind some proxies). */
  refusePutWithBody?: boolean;
  /** Refuse mounts with 202 and a session. */
  refuseMount?: boolean;
  /** Send upload Locations to this other origin (a storage front end). */
  uploadOrigin?: string;
  /** Answer blob PATCHes and PUTs on the registry host with 307 to this origin (storage behind a redirect). */
  redirectUploadsTo?: string;
  /** Serve this body with this Content-Type for every manifest GET. */
  manifest?: { type: string; body: string };
  /** Require Basic auth on requests to this host. */
  basicAuthHost?: string;
}

interface Seen {
  method: string;
  url: string;
  host: string;
  authorization?: string;
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A small in-process registry with switchable quirks; both its ports are real HTTP servers on loopback. */
function fakeRegistry(quirks: Quirks, seen: Seen[], store: { blobs: Map<string, Buffer>; uploads: Map<string, Buffer[]> }) {
  const { blobs, uploads } = store;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    const data = await body(req);
    res.setHeader('warning', '299 - "this registry is a test double"');
    if (quirks.basicAuthHost === req.headers.host && !req.headers.authorization) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="quirks"' });
      return res.end();
    }
    if (url.pathname === '/v2/') return res.end('{}');
    const blob = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]+)$/.exec(url.pathname);
    if (blob && req.method === 'HEAD') {
      res.writeHead(blobs.has(blob[2]!) ? 200 : 404, blobs.has(blob[2]!) ? { 'content-length': String(blobs.get(blob[2]!)!.length) } : {});
      return res.end();
    }
    if (/\/blobs\/uploads\/$/.test(url.pathname) && req.method === 'POST') {
      const id = `u${uploads.size}`;
      uploads.set(id, []);
      // A relative Location with state in the query, as quay and others send.
      const location = `${quirks.uploadOrigin ?? ''}${url.pathname}${id}?_state=a%2Bb%3D`;
      res.writeHead(202, { location, 'oci-chunk-min-length': '1000' });
      return res.end();
    }
    const upload = /\/blobs\/uploads\/(u\d+)$/.exec(url.pathname);
    if (upload && uploads.has(upload[1]!)) {
      if (url.searchParams.get('_state') !== 'a+b=') return res.writeHead(400).end('lost state');
      const parts = uploads.get(upload[1]!)!;
      if (quirks.redirectUploadsTo && (req.method === 'PATCH' || req.method === 'PUT') && req.headers.host === quirks.basicAuthHost) {
        res.writeHead(307, { location: `${quirks.redirectUploadsTo}${req.url}` });
        return res.end();
      }
      if (req.method === 'PATCH') {
        parts.push(data);
        const size = parts.reduce((s, p) => s + p.length, 0);
        res.writeHead(quirks.patch201 ? 201 : 202, { location: `${url.pathname}?_state=a%2Bb%3D`, range: `0-${size - 1}` });
        return res.end();
      }
      if (req.method === 'PUT') {
        if (quirks.refusePutWithBody && data.length > 0) return res.writeHead(405).end();
        parts.push(data);
        const all = Buffer.concat(parts);
        const digest = `sha256:${createHash('sha256').update(all).digest('hex')}`;
        if (digest !== url.searchParams.get('digest')) return res.writeHead(400).end(JSON.stringify({ errors: [{ code: 'DIGEST_INVALID', message: 'digest did not match' }] }));
        blobs.set(digest, all);
        res.writeHead(204);
        return res.end();
      }
    }
    if (/\/manifests\//.test(url.pathname) && req.method === 'GET' && quirks.manifest) {
      res.writeHead(200, { 'content-type': quirks.manifest.type });
      return res.end(quirks.manifest.body);
    }
    if (/\/manifests\//.test(url.pathname) && req.method === 'PUT') {
      const tags = url.searchParams.getAll('tag');
      res.writeHead(201, { 'docker-content-digest': sha256Digest(data), ...(tags.length ? { 'oci-tag': tags.join(', ') } : {}) });
      return res.end();
    }
    if (/\/tags\/list$/.test(url.pathname)) {
      const page = url.searchParams.get('last') ? { name: 'app', tags: ['c'] } : { name: 'app', tags: ['a', 'b'] };
      if (!url.searchParams.get('last')) res.setHeader('link', '</v2/app/tags/list?n=2&last=b>; rel="next"');
      return res.end(JSON.stringify(page));
    }
    res.writeHead(404).end();
  };
  return createServer((req, res) => {
    handle(req, res).catch(() => res.writeHead(500).end());
  });
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  return `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
}

describe('registry quirks (in-process test double)', () => {
  const seen: Seen[] = [];
  const quirks: Quirks = {};
  // The storage front end shares the registry's state, like an upload service behind a CDN.
  const store = { blobs: new Map<string, Buffer>(), uploads: new Map<string, Buffer[]>() };
  const registry = fakeRegistry(quirks, seen, store);
  const storage = fakeRegistry(quirks, seen, store);
  let host = '';
  let storageHost = '';
  const credential = { kind: 'basic' as const, username: 'u', password: 'quirk-secret' };
  beforeAll(async () => {
    host = await listen(registry);
    storageHost = await listen(storage);
  });
  beforeEach(() => {
    seen.length = 0;
    for (const k of Object.keys(quirks)) delete quirks[k as keyof Quirks];
  });
  afterAll(() => {
    registry.close();
    storage.close();
  });

  const image = () => {
    const [a, b] = randomLayers([5000, 7000]);
    return {
      layers: [
        { mediaType: MediaType.dockerLayer, bytes: a!, digest: sha256Digest(a!), size: a!.length },
        { mediaType: MediaType.dockerLayer, open: () => [b!] },
      ],
      config: (d: never) => configFor(d),
    };
  };

  it('resolves relative Locations, keeps their query, appends digest, accepts 201 on PATCH and 204 on PUT', async () => {
    quirks.patch201 = true;
    const warnings: string[] = [];
    const pushed = await pushImage(`${host}/app:1`, image() as never, { credential: null, onWarning: (w) => warnings.push(w) });
    expect(pushed.layers.map((l) => l.status)).toEqual(['uploaded', 'uploaded']);
    const put = seen.find((s) => s.method === 'PUT' && s.url.includes('digest='))!;
    expect(put.url).toMatch(/\/blobs\/uploads\/u\d+\?_state=a%2Bb%3D&digest=sha256%3A[a-f0-9]{64}$/);
    expect(warnings).toEqual(['this registry is a test double']);
  });

  it('falls back to chunked PATCHes when a PUT with a body is refused', async () => {
    quirks.refusePutWithBody = true;
    const pushed = await pushImage(`${host}/app:2`, image() as never, { credential: null });
    expect(pushed.layers.map((l) => l.status)).toEqual(['uploaded', 'uploaded']);
    const patches = seen.filter((s) => s.method === 'PATCH');
    expect(patches.length).toBeGreaterThanOrEqual(2);
  });

  it('sends no credentials to an upload Location on another host', async () => {
    quirks.uploadOrigin = `http://${storageHost}`;
    quirks.basicAuthHost = host;
    await pushImage(`${host}/app:3`, image() as never, { credential });
    const toStorage = seen.filter((s) => s.host === storageHost);
    expect(toStorage.length).toBeGreaterThan(0);
    expect(toStorage.every((s) => s.authorization === undefined)).toBe(true);
    const toRegistry = seen.filter((s) => s.host === host && s.url !== '/v2/');
    expect(toRegistry.map((s) => s.authorization)).toEqual(toRegistry.map(() => `Basic ${Buffer.from('u:quirk-secret').toString('base64')}`));
  });

  it('replays upload bodies on a 307 to another host, without credentials, hashing each byte once', async () => {
    quirks.redirectUploadsTo = `http://${storageHost}`;
    quirks.basicAuthHost = host;
    const pushed = await pushImage(`${host}/app:4`, image() as never, { credential });
    expect(pushed.layers.map((l) => l.status)).toEqual(['uploaded', 'uploaded']);
    expect(pushed.uploadedBytes).toBe(5000 + 7000 + pushed.config.size);
    const moved = seen.filter((s) => (s.method === 'PUT' || s.method === 'PATCH') && s.host === storageHost);
    expect(moved.map((s) => s.method).sort()).toEqual(['PATCH', 'PUT', 'PUT', 'PUT']);
    expect(moved.every((s) => s.authorization === undefined)).toBe(true);
  });

  it('refuses schema 1 manifests and trusts the body media type over a wrong Content-Type', async () => {
    const client = new RegistryClient(host, { credential: null });
    quirks.manifest = { type: MediaType.dockerSchema1Signed, body: JSON.stringify({ schemaVersion: 1, name: 'app' }) };
    await expect(client.fetchManifest('app', 'old')).rejects.toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
    const body = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] });
    quirks.manifest = { type: 'application/octet-stream', body };
    const fetched = await client.fetchManifest('app', 'static');
    expect(fetched).toMatchObject({ mediaType: MediaType.ociIndex, digest: sha256Digest(body) });
  });

  it('puts several tags in one request when the registry confirms them with OCI-Tag', async () => {
    await pushImage(`${host}/app:main`, image() as never, { credential: null, tags: ['v2', 'v2.1'] });
    const puts = seen.filter((s) => s.method === 'PUT' && s.url.includes('/manifests/'));
    expect(puts.map((s) => s.url)).toEqual([expect.stringMatching(/\/manifests\/sha256:[a-f0-9]{64}\?tag=main&tag=v2&tag=v2\.1$/)]);
  });

  it('follows relative Link headers for tag pagination', async () => {
    expect(await new RegistryClient(host, { credential: null }).listTags('app')).toEqual(['a', 'b', 'c']);
  });
});
