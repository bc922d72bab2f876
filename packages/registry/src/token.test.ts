import { describe, expect, it } from 'vitest';
import { fetchToken } from './token.js';

type Call = { url: string; method: string; body?: string; auth?: string };

function fakeFetch(respond: (call: Call) => Response) {
  const calls: Call[] = [];
  const f = (async (input: URL | string, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    const call: Call = { url: String(input), method: init?.method ?? 'GET', ...(typeof init?.body === 'string' ? { body: init.body } : {}), ...(headers.get('authorization') ? { auth: headers.get('authorization')! } : {}) };
    calls.push(call);
    return respond(call);
  }) as typeof fetch;
  return { f, calls };
}

const base = { realm: 'https://auth.example/token', service: 'reg', registry: 'reg.example' };

describe('fetchToken', () => {
  it('GETs with one scope parameter per scope and Basic credentials; expires_in below 60 counts as 60', async () => {
    const { f, calls } = fakeFetch(() => Response.json({ access_token: 'abc', expires_in: 10 }));
    const before = Date.now();
    const token = await fetchToken({ ...base, scopes: ['repository:a:pull,push', 'repository:b:pull'], credential: { kind: 'basic', username: 'u', password: 'p' }, fetch: f });
    expect(token.token).toBe('abc');
    expect(token.expiresAt).toBeGreaterThanOrEqual(before + 60_000);
    const url = new URL(calls[0]!.url);
    expect(url.searchParams.getAll('scope')).toEqual(['repository:a:pull,push', 'repository:b:pull']);
    expect(url.searchParams.get('service')).toBe('reg');
    expect(calls[0]!.auth).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
  });

  it('POSTs the refresh_token grant for identity tokens and falls back to GET on 404', async () => {
    const { f, calls } = fakeFetch((c) => (c.method === 'POST' ? new Response('nope', { status: 404 }) : Response.json({ token: 't' })));
    await fetchToken({ ...base, scopes: ['repository:a:pull'], credential: { kind: 'identity', token: 'rt' }, fetch: f });
    expect(calls.map((c) => c.method)).toEqual(['POST', 'GET']);
    expect(new URLSearchParams(calls[0]!.body)).toEqual(new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'rt', service: 'reg', scope: 'repository:a:pull', client_id: 'strata' }));
  });

  it('refuses an http realm for an https registry and a private realm for a public registry', async () => {
    const { f } = fakeFetch(() => Response.json({ token: 't' }));
    await expect(fetchToken({ ...base, realm: 'http://auth.example/token', scopes: [], fetch: f })).rejects.toThrow(/must use https/);
    await expect(fetchToken({ ...base, realm: 'https://10.0.0.1/token', scopes: [], fetch: f })).rejects.toThrow(/private address/);
  });

  it('caps the body at 64 KiB and names a missing token', async () => {
    const big = fakeFetch(() => new Response('x'.repeat(70 * 1024)));
    await expect(fetchToken({ ...base, scopes: [], fetch: big.f })).rejects.toThrow(/over the 65536 byte limit/);
    const none = fakeFetch(() => Response.json({ expires_in: 300 }));
    await expect(fetchToken({ ...base, scopes: [], fetch: none.f })).rejects.toThrow(/neither token nor access_token/);
  });
});
