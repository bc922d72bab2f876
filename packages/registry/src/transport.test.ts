import { afterEach, describe, expect, it, vi } from 'vitest';
import { readLimited } from './_response.js';
import { RegistryTransport } from './_transport.js';

type Handler = (url: URL, headers: Headers) => Response;

function fakeFetch(handler: Handler) {
  const calls: { url: URL; auth: string | null; at: number }[] = [];
  const f = (async (input: URL | string, init?: RequestInit) => {
    const url = new URL(String(input));
    const headers = new Headers(init?.headers);
    calls.push({ url, auth: headers.get('authorization'), at: Date.now() });
    return handler(url, headers);
  }) as typeof fetch;
  return { f, calls };
}

const challenge = (scope: string) =>
  new Response(null, { status: 401, headers: { 'www-authenticate': `Bearer realm="http://127.0.0.1:1/token",service="svc",scope="${scope}"` } });

describe('RegistryTransport', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reuses a token until shortly before it expires, then gets a new one', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
    let issued = 0;
    const { f } = fakeFetch((url, headers) => {
      if (url.pathname === '/token') return Response.json({ token: `t${++issued}`, expires_in: 60 });
      if (url.pathname === '/v2/' || !headers.get('authorization')) return challenge('repository:a:pull');
      return Response.json({ auth: headers.get('authorization') });
    });
    const t = new RegistryTransport('127.0.0.1:1', { fetch: f, credential: null });
    const get = async () => JSON.parse((await readLimited((await t.send({ method: 'GET', url: '/v2/a/tags/list', scopes: ['repository:a:pull'], expect: [200] })).res, 1e6, 'tags')).toString()) as { auth: string };
    expect(await get()).toEqual({ auth: 'Bearer t1' });
    vi.setSystemTime(new Date('2026-01-01T00:00:50Z'));
    expect(await get()).toEqual({ auth: 'Bearer t1' });
    vi.setSystemTime(new Date('2026-01-01T00:00:56Z'));
    expect(await get()).toEqual({ auth: 'Bearer t2' });
  });

  it('adds the scope a 401 names, gets a new token and retries once', async () => {
    const { f, calls } = fakeFetch((url, headers) => {
      if (url.pathname === '/token') return Response.json({ token: url.searchParams.getAll('scope').join('|') });
      if (url.pathname === '/v2/') return challenge('');
      const token = headers.get('authorization') ?? '';
      return token.includes('repository:b:pull') ? Response.json({}) : challenge('repository:a:pull repository:b:pull');
    });
    const t = new RegistryTransport('127.0.0.1:1', { fetch: f, credential: null });
    const { res } = await t.send({ method: 'GET', url: '/v2/a/tags/list', scopes: ['repository:a:pull'], expect: [200] });
    expect(res.status).toBe(200);
    const tokens = calls.filter((c) => c.url.pathname === '/token').map((c) => c.url.searchParams.getAll('scope'));
    expect(tokens).toEqual([['repository:a:pull'], ['repository:a:pull', 'repository:b:pull']]);
  });

  it('answers a challenge on a repository even when the ping needed none', async () => {
    const { f, calls } = fakeFetch((url, headers) => {
      if (url.pathname === '/v2/') return Response.json({});
      if (headers.get('authorization')) return Response.json({ name: 'a', tags: [] });
      return new Response(null, { status: 401, headers: { 'www-authenticate': 'Basic realm="repos"' } });
    });
    const t = new RegistryTransport('127.0.0.1:1', { fetch: f, credential: { kind: 'basic', username: 'u', password: 'p' } });
    const { res } = await t.send({ method: 'GET', url: '/v2/a/tags/list', scopes: ['repository:a:pull'], expect: [200] });
    expect(res.status).toBe(200);
    expect(calls.map((c) => c.auth)).toEqual([null, null, `Basic ${Buffer.from('u:p').toString('base64')}`]);
  });

  it('fails instead of looping when a 401 names no new scope', async () => {
    const { f, calls } = fakeFetch((url) => {
      if (url.pathname === '/token') return Response.json({ token: 't' });
      return challenge('repository:a:pull');
    });
    const t = new RegistryTransport('127.0.0.1:1', { fetch: f, credential: null });
    await expect(t.send({ method: 'GET', url: '/v2/a/tags/list', scopes: ['repository:a:pull'], expect: [200] })).rejects.toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    expect(calls.filter((c) => c.url.pathname === '/v2/a/tags/list')).toHaveLength(1);
  });

  it('falls back from https to http for an insecure registry, and only then', async () => {
    const tlsError = () => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('wrong version number'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' }) });
    const { f, calls } = fakeFetch((url) => {
      if (url.protocol === 'https:') throw tlsError();
      return Response.json({ name: 'a', tags: [] });
    });
    const insecure = new RegistryTransport('registry.internal:5000', { fetch: f, credential: null, insecure: true, retry: { delayMs: 1 } });
    await insecure.send({ method: 'GET', url: '/v2/a/tags/list', scopes: [], expect: [200] });
    expect(calls.map((c) => c.url.href)).toEqual(['https://registry.internal:5000/v2/', 'http://registry.internal:5000/v2/', 'http://registry.internal:5000/v2/a/tags/list']);
    const secure = new RegistryTransport('registry.internal:5000', { fetch: f, credential: null, retry: { delayMs: 1 } });
    await expect(secure.send({ method: 'GET', url: '/v2/a/tags/list', scopes: [], expect: [200] })).rejects.toMatchObject({ code: 'NETWORK' });
    expect(calls.slice(3).every((c) => c.url.protocol === 'https:')).toBe(true);
  });

  it('backs off per request only: a request after a failure and a success is sent at once', async () => {
    let failures = 1;
    const { f, calls } = fakeFetch((url) => {
      if (url.pathname === '/v2/') return Response.json({});
      return failures-- > 0 ? new Response(null, { status: 503, headers: { 'retry-after': '0' } }) : Response.json({});
    });
    // A per-host penalty would make the healthy requests below wait a minute each (past the test's timeout).
    const t = new RegistryTransport('127.0.0.1:1', { fetch: f, credential: null, retry: { delayMs: 60_000 } });
    const get = () => t.send({ method: 'GET', url: '/v2/a/tags/list', scopes: [], expect: [200] });
    await get(); // 503 with Retry-After: 0, then 200
    for (let i = 0; i < 5; i++) await get();
    expect(calls.filter((c) => c.url.pathname === '/v2/a/tags/list')).toHaveLength(7);
  }, 10_000);

  it('keeps secrets a hostile registry echoes back out of errors, and names the credential source on a 401', async () => {
    const secret = 'pa55-w0rd-SECRET';
    const basic = Buffer.from(`alice:${secret}`).toString('base64');
    const { f } = fakeFetch((url, headers) => {
      if (url.pathname === '/v2/') return new Response(null, { status: 401, headers: { 'www-authenticate': 'Basic realm="r"' } });
      const echoed = `${headers.get('authorization')} = alice:${secret}`;
      return Response.json(
        { errors: [{ code: 'UNAUTHORIZED', message: `you sent ${echoed}`, detail: { header: echoed } }] },
        { status: 401, headers: { 'www-authenticate': `Basic realm="${echoed}"` } },
      );
    });
    const t = new RegistryTransport('127.0.0.1:1', { fetch: f, credential: { credential: { kind: 'basic', username: 'alice', password: secret }, source: '/home/a/auth.json' } });
    const error = await t.send({ method: 'GET', url: '/v2/a/tags/list', scopes: [], expect: [200] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    expect((error as Error).message).toContain('credentials from /home/a/auth.json');
    const text = `${(error as Error).message} ${(error as Error).stack} ${JSON.stringify(error)}`;
    expect(text).not.toContain(secret);
    expect(text).not.toContain(basic);

    const anonymous = new RegistryTransport('127.0.0.1:1', { fetch: f, credential: null });
    const denied = await anonymous.send({ method: 'GET', url: '/v2/a/tags/list', scopes: [], expect: [200] }).catch((e: unknown) => e);
    expect((denied as Error).message).toMatch(/401 UNAUTHORIZED.*\(anonymous\)/);
  });

  it('keeps secrets a hostile token endpoint echoes back out of errors', async () => {
    const secret = 'another-SECRET-99';
    const { f } = fakeFetch((url, headers) => {
      if (url.pathname === '/token') return Response.json({ errors: [{ code: 'DENIED', message: `no: ${headers.get('authorization')} alice:${secret}` }] }, { status: 403 });
      return challenge('repository:a:pull');
    });
    const t = new RegistryTransport('127.0.0.1:1', { fetch: f, credential: { kind: 'basic', username: 'alice', password: secret } });
    const error = await t.send({ method: 'GET', url: '/v2/a/tags/list', scopes: ['repository:a:pull'], expect: [200] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'DENIED' });
    const text = `${(error as Error).message} ${(error as Error).stack} ${JSON.stringify(error)} ${JSON.stringify((error as Error).cause)}`;
    expect(text).not.toContain(secret);
    expect(text).not.toContain(Buffer.from(`alice:${secret}`).toString('base64'));
  });

  it('sends credentials only over https or to loopback: never to a plain-http realm on another host', async () => {
    const { f, calls } = fakeFetch((url) => {
      if (url.pathname === '/token') return Response.json({ token: 't' });
      return new Response(null, { status: 401, headers: { 'www-authenticate': 'Bearer realm="http://auth.example/token",service="svc"' } });
    });
    const t = new RegistryTransport('127.0.0.1:1', { fetch: f, credential: { kind: 'basic', username: 'u', password: 'p' } });
    const error = await t.send({ method: 'GET', url: '/v2/a/tags/list', scopes: ['repository:a:pull'], expect: [200] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INSECURE_CREDENTIALS' });
    expect((error as Error).message).toMatch(/http:\/\/auth\.example\/token.*plain http/);
    expect(calls.filter((c) => c.url.host === 'auth.example')).toEqual([]);
  });

  it('sends no Basic credentials to an insecure (plain http) registry off loopback', async () => {
    const { f, calls } = fakeFetch((url, headers) => {
      if (headers.get('authorization')) return Response.json({ name: 'a', tags: [] });
      return new Response(null, { status: 401, headers: { 'www-authenticate': 'Basic realm="r"' } });
    });
    // https is tried first: fail its TLS so the registry is reached over plain http.
    const http = (async (input: URL | string, init?: RequestInit) => {
      if (String(input).startsWith('https:')) throw Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('wrong version number'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' }) });
      return f(input, init);
    }) as typeof fetch;
    const insecure = new RegistryTransport('registry.internal:5000', { fetch: http, insecure: true, retry: { delayMs: 1 }, credential: { kind: 'basic', username: 'u', password: 'p' } });
    const error = await insecure.send({ method: 'GET', url: '/v2/a/tags/list', scopes: [], expect: [200] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INSECURE_CREDENTIALS' });
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((c) => c.auth === null)).toBe(true);
  });

  it('names the token endpoint when it cannot be reached, and retries it', async () => {
    let down = 10;
    const { f, calls } = fakeFetch((url) => {
      if (url.pathname === '/token') {
        if (down-- > 0) throw Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
        return Response.json({ token: 't' });
      }
      return challenge('repository:a:pull');
    });
    const t = new RegistryTransport('127.0.0.1:1', { fetch: f, credential: null, retry: { delayMs: 1, attempts: 2 } });
    const error = await t.send({ method: 'GET', url: '/v2/a/tags/list', scopes: ['repository:a:pull'], expect: [200] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'NETWORK' });
    expect((error as Error).message).toMatch(/^token endpoint http:\/\/127\.0\.0\.1:1\/token: fetch failed \(connect ECONNREFUSED\)$/);
    expect(calls.filter((c) => c.url.pathname === '/token')).toHaveLength(2);
  });
});
