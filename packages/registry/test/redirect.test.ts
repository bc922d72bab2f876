import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType, RegistryClient, sha256Digest } from '../src/index.js';
import { readAll } from './_fixtures.js';

const blob = Buffer.from('blob bytes that live on a storage host\n'.repeat(100));
const digest = sha256Digest(blob);

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

// A registry that requires Basic auth and redirects blob GETs to a storage host, as registries
// backed by S3/GCS do with presigned URLs. Both are real HTTP servers on loopback.
describe('redirects', () => {
  const seen: { registry: IncomingHttpHeaders[]; storage: IncomingHttpHeaders[] } = { registry: [], storage: [] };
  let registryPort = 0;
  let storagePort = 0;
  const storage = createServer((req, res) => {
    seen.storage.push(req.headers);
    res.writeHead(200, { 'content-length': String(blob.length) });
    res.end(blob);
  });
  const registry = createServer((req, res) => {
    seen.registry.push(req.headers);
    if (!req.headers.authorization) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="strata-test"' });
      return res.end();
    }
    if (req.url === '/v2/') return res.end('{}');
    if (req.url?.startsWith('/v2/app/blobs/')) {
      res.writeHead(307, { location: `http://localhost:${storagePort}/bucket/blob?X-Signature=abc` });
      return res.end();
    }
    res.writeHead(404);
    res.end();
  });
  beforeAll(async () => {
    storagePort = await listen(storage);
    registryPort = await listen(registry);
  });
  afterAll(() => {
    storage.close();
    registry.close();
  });

  it('follows a redirect to another host without sending Authorization there', async () => {
    const client = new RegistryClient(`127.0.0.1:${registryPort}`, { credential: { kind: 'basic', username: 'alice', password: 'redirect-secret-5' } });
    const bytes = await readAll(client.fetchBlob('app', { mediaType: MediaType.dockerLayer, digest, size: blob.length }));
    expect(bytes.equals(blob)).toBe(true);
    expect(seen.registry.at(-1)?.authorization).toBe(`Basic ${Buffer.from('alice:redirect-secret-5').toString('base64')}`);
    expect(seen.storage).toHaveLength(1);
    expect(seen.storage[0]!.authorization).toBeUndefined();
  });
});
