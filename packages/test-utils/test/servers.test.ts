import { createHash, verify, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasPeers, type RunningFaultProxy, startFaultProxy, startTokenServer } from '../src/index.js';

describe.runIf(hasPeers('openssl'))('startTokenServer', () => {
  it('signs ES256 JWTs whose x5c certificate verifies them, granting what was asked', async () => {
    const server = await startTokenServer({ users: { alice: 'pw' } });
    try {
      const url = new URL(server.realm);
      url.searchParams.set('service', server.service);
      url.searchParams.append('scope', 'repository:a/b:pull,push');
      const denied = await fetch(url);
      expect(denied.status).toBe(401);
      const res = await fetch(url, { headers: { authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}` } });
      const { token } = (await res.json()) as { token: string };
      const [header, claims, signature] = token.split('.') as [string, string, string];
      const head = JSON.parse(Buffer.from(header, 'base64url').toString()) as { alg: string; x5c: string[] };
      expect(head.alg).toBe('ES256');
      const cert = new X509Certificate(Buffer.from(head.x5c[0]!, 'base64'));
      expect(cert.raw.equals(new X509Certificate(await readFile(server.rootCertBundle)).raw)).toBe(true);
      const ok = verify('sha256', Buffer.from(`${header}.${claims}`), { key: cert.publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'));
      expect(ok).toBe(true);
      const body = JSON.parse(Buffer.from(claims, 'base64url').toString()) as Record<string, unknown>;
      expect(body).toMatchObject({ iss: server.issuer, aud: server.service, sub: 'alice', access: [{ type: 'repository', name: 'a/b', actions: ['pull', 'push'] }] });
      expect(server.requests.map((r) => r.status)).toEqual([401, 200]);
    } finally {
      await server.stop();
    }
  });
});

describe('startFaultProxy', () => {
  const body = Buffer.from('0123456789'.repeat(1000));
  const upstream = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': String(body.length) });
    res.end(body);
  });
  let proxy: RunningFaultProxy;
  beforeAll(async () => {
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const a = upstream.address();
    proxy = await startFaultProxy(`http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`);
  });
  afterAll(async () => {
    await proxy.stop();
    upstream.close();
  });

  it('forwards untouched bytes when no fault matches', async () => {
    expect(Buffer.from(await (await fetch(`${proxy.url}/x`)).arrayBuffer()).equals(body)).toBe(true);
  });

  it('injects statuses with Retry-After, resets, truncation and corruption, each as often as asked', async () => {
    proxy.addFault({ path: /^\/s/, fault: { kind: 'status', status: 429, retryAfter: '7' }, times: 2 });
    proxy.addFault({ path: /^\/r/, fault: { kind: 'reset' } });
    proxy.addFault({ path: /^\/t/, fault: { kind: 'truncate', bytes: 100 } });
    proxy.addFault({ path: /^\/c/, fault: { kind: 'corrupt' } });
    const limited = await fetch(`${proxy.url}/s`);
    expect([limited.status, limited.headers.get('retry-after')]).toEqual([429, '7']);
    expect((await fetch(`${proxy.url}/s`)).status).toBe(429);
    expect((await fetch(`${proxy.url}/s`)).status).toBe(200);
    await expect(fetch(`${proxy.url}/r`)).rejects.toThrow(/fetch failed/);
    await expect(fetch(`${proxy.url}/t`).then((r) => r.arrayBuffer())).rejects.toThrow();
    const corrupted = Buffer.from(await (await fetch(`${proxy.url}/c`)).arrayBuffer());
    expect(corrupted.length).toBe(body.length);
    expect(createHash('sha256').update(corrupted).digest('hex')).not.toBe(createHash('sha256').update(body).digest('hex'));
    expect(proxy.requests.filter((r) => r.fault).map((r) => r.fault)).toEqual(['status', 'status', 'reset', 'truncate', 'corrupt']);
  });
});
