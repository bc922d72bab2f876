import * as z from 'zod';
import { defaultFetch, type HttpFetch, type HttpResponse } from './_http.js';
import type { Credential } from './credentials.js';
import { RegistryError } from './errors.js';
import { displayUrl, readLimited, responseError } from './_response.js';
import { isPrivateHost, mayCarryCredentials } from './reference.js';
import { Redactor } from './_redact.js';
import { isNetworkError } from './_retry.js';

/** A Bearer token and when to stop using it. */
export interface BearerToken {
  readonly token: string;
  /** Epoch milliseconds after which the token must be refreshed. */
  readonly expiresAt: number;
  /** A refresh token the server returned (keep it as the identity token). */
  readonly refreshToken?: string;
}

/** Parameters of one token request. */
export interface FetchTokenOptions {
  /** The challenge's `realm`. */
  readonly realm: string;
  /** The challenge's `service`. */
  readonly service?: string;
  /** Scopes in the order to send them (push scopes first). */
  readonly scopes: readonly string[];
  readonly credential?: Credential;
  /** The registry host the challenge came from; a realm on a private host is refused unless this is private too. */
  readonly registry: string;
  /** Allow an http realm (for registries reached over http). @default false */
  readonly insecure?: boolean;
  /** Use the OAuth2 password grant (POST) instead of GET with Basic. @default false */
  readonly passwordGrant?: boolean;
  /** Ask for a refresh token (`offline_token=true`). @default false */
  readonly offlineToken?: boolean;
  /** `client_id` sent to the token server. @default 'strata' */
  readonly clientId?: string;
  /** @default a fetch over node:http/https */
  readonly fetch?: typeof fetch | HttpFetch;
  readonly signal?: AbortSignal;
  /** Scrubs secrets from what the token server sends back. @default one that knows `credential` */
  readonly redactor?: Redactor;
}

const tokenBody = z.looseObject({
  token: z.string().optional(),
  access_token: z.string().optional(),
  expires_in: z.number().optional(),
  issued_at: z.string().optional(),
  refresh_token: z.string().optional(),
});

function checkRealm(realm: string, options: FetchTokenOptions): URL {
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new RegistryError('TOKEN', `token realm ${JSON.stringify(realm)} from ${options.registry} is not a URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && options.insecure)) {
    throw new RegistryError('TOKEN', `token realm ${displayUrl(url)} from ${options.registry} must use https`);
  }
  if (options.credential && !mayCarryCredentials(url)) {
    throw new RegistryError('INSECURE_CREDENTIALS', `token realm ${displayUrl(url)} from ${options.registry}: refusing to send credentials over plain http to another host (only https, or loopback)`);
  }
  if (isPrivateHost(url.host) && !isPrivateHost(options.registry)) {
    throw new RegistryError('TOKEN', `token realm ${displayUrl(url)} is a private address but ${options.registry} is not`);
  }
  return url;
}

function fetchOf(options: FetchTokenOptions): HttpFetch {
  return (options.fetch as HttpFetch | undefined) ?? defaultFetch();
}

function basicHeader(c: Credential | undefined): Record<string, string> {
  return c?.kind === 'basic' ? { authorization: `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` } : {};
}

async function getToken(url: URL, options: FetchTokenOptions): Promise<HttpResponse> {
  const get = new URL(url);
  if (options.service) get.searchParams.set('service', options.service);
  for (const s of options.scopes) get.searchParams.append('scope', s);
  if (options.credential?.kind === 'basic') get.searchParams.set('account', options.credential.username);
  if (options.offlineToken) {
    get.searchParams.set('offline_token', 'true');
    get.searchParams.set('client_id', options.clientId ?? 'strata');
  }
  return fetchOf(options)(get, { headers: basicHeader(options.credential), redirect: 'error', signal: options.signal ?? null });
}

async function postToken(url: URL, form: Record<string, string>, options: FetchTokenOptions): Promise<HttpResponse> {
  const body = new URLSearchParams(form);
  if (options.service) body.set('service', options.service);
  if (options.scopes.length) body.set('scope', options.scopes.join(' '));
  body.set('client_id', options.clientId ?? 'strata');
  return fetchOf(options)(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: body.toString(),
    redirect: 'error',
    signal: options.signal ?? null,
  });
}

/** Sends the right kind of request for the credential: refresh-token POST, password POST or GET. */
async function requestToken(url: URL, options: FetchTokenOptions): Promise<HttpResponse> {
  const c = options.credential;
  let form: Record<string, string> | undefined;
  if (c?.kind === 'identity') form = { grant_type: 'refresh_token', refresh_token: c.token };
  else if (c?.kind === 'basic' && options.passwordGrant) form = { grant_type: 'password', username: c.username, password: c.password, access_type: 'offline' };
  if (!form) return getToken(url, options);
  const res = await postToken(url, form, options);
  if (res.status !== 404) return res;
  // Servers without OAuth2 support answer 404: fall back to GET (go-containerregistry does too).
  await res.body?.cancel();
  return getToken(url, { ...options, credential: c?.kind === 'basic' ? c : undefined });
}

/**
 * Gets a Bearer token from a token server (distribution's token spec): GET with Basic credentials,
 * or the OAuth2 POST for refresh tokens (`identitytoken`) and the optional password grant.
 * `expires_in` below 60 s counts as 60 s; the body is capped at 64 KiB.
 */
export async function fetchToken(options: FetchTokenOptions): Promise<BearerToken> {
  const redactor = options.redactor ?? new Redactor();
  redactor.addCredential(options.credential);
  try {
    return await tokenFrom(options);
  } catch (error) {
    throw redactor.scrubError(error);
  }
}

async function tokenFrom(options: FetchTokenOptions): Promise<BearerToken> {
  const url = checkRealm(options.realm, options);
  const started = Date.now();
  const res = await requestToken(url, options).catch((error: unknown) => {
    // Name the token endpoint, not just the registry request that needed the token.
    if (error instanceof RegistryError || !isNetworkError(error)) throw error;
    const cause = (error as Error).cause instanceof Error ? ` (${((error as Error).cause as Error).message})` : '';
    throw new RegistryError('NETWORK', `token endpoint ${displayUrl(url)}: ${(error as Error).message}${cause}`, { cause: error });
  });
  if (res.status !== 200) {
    const error = await responseError(res, 'GET', url.href);
    throw new RegistryError(error.code === 'UNKNOWN' ? 'TOKEN' : error.code, `token endpoint: ${error.message}`, { cause: error });
  }
  const text = (await readLimited(res, 64 * 1024, `token endpoint ${displayUrl(url)}`)).toString('utf8');
  let parsed: z.infer<typeof tokenBody>;
  try {
    parsed = tokenBody.parse(JSON.parse(text));
  } catch {
    throw new RegistryError('TOKEN', `token endpoint ${displayUrl(url)}: response is not a token JSON object`);
  }
  const token = parsed.token || parsed.access_token;
  if (!token) throw new RegistryError('TOKEN', `token endpoint ${displayUrl(url)}: response has neither token nor access_token`);
  const issued = parsed.issued_at ? Date.parse(parsed.issued_at) : Number.NaN;
  const base = Number.isNaN(issued) || issued > Date.now() ? started : issued;
  const lifetime = Math.max(60, parsed.expires_in ?? 60) * 1000;
  return { token, expiresAt: base + lifetime, ...(parsed.refresh_token ? { refreshToken: parsed.refresh_token } : {}) };
}
