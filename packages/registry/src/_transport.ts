import { type Challenge, parseChallenges, pickChallenge } from './challenge.js';
import { type Credential, type FoundCredential, findCredential } from './credentials.js';
import { RegistryError, RegistryHttpError } from './errors.js';
import { Redactor } from './_redact.js';
import { abortReason, backoffDelay, DEFAULT_ATTEMPTS, isLengthMismatch, isNetworkError, isRetryableStatus, isTransient, parseRetryAfter, type RetryOptions, sleep } from './_retry.js';
import { displayUrl, readLimited, responseError } from './_response.js';
import { ScopeSet } from './_scopes.js';
import { apiHost, isPrivateHost, mayCarryCredentials, registryScheme } from './reference.js';
import { type BearerToken, fetchToken } from './token.js';
import { type Timeouts, watchedFetch } from './_watchdog.js';
import { defaultFetch, type HttpFetch, type HttpResponse } from './_http.js';

/**
 * Where credentials come from: a fixed one (optionally with the name of where it came from, for
 * messages), none (`null`), or a lookup.
 */
export type CredentialSource = Credential | FoundCredential | null | ((registry: string, repository?: string) => Promise<Credential | FoundCredential | undefined>);

/** Options shared by every request to a registry. */
export interface TransportOptions extends Timeouts {
  /** The fetch to use (inject for tests or a custom dispatcher). @default one over node:http/https with keep-alive (not globalThis.fetch: see _http.ts) */
  readonly fetch?: typeof fetch;
  /** Credentials: fixed, `null` for anonymous, or a lookup. @default findCredential (podman/skopeo auth files, then Docker's) */
  readonly credential?: CredentialSource;
  /** The only auth file to read when `credential` is not given (podman's `--authfile`). @default the containers-auth.json(5) search */
  readonly authFile?: string;
  /** Allow plain http for a registry that is not loopback (https is tried first). @default false */
  readonly insecure?: boolean;
  /** Retry policy for requests and whole blob transfers. @default { attempts: 4, delayMs: 1000, factor: 3, maxDelayMs: 10000 } */
  readonly retry?: RetryOptions;
  /** `User-Agent` header. @default 'strata-registry/0.1' */
  readonly userAgent?: string;
  /** Called once per distinct `Warning: 299` header a registry sends. @default ignore */
  readonly onWarning?: (message: string) => void;
  /** Use the OAuth2 password grant at the token endpoint. @default false */
  readonly passwordGrant?: boolean;
  /** Ask the token server for a refresh token and reuse it. @default false */
  readonly offlineToken?: boolean;
}

/** A body that is bytes, or a factory that can stream it again for a retry. */
export type RequestBody = Uint8Array | string | (() => AsyncIterable<Uint8Array>);

/** One request to a registry. */
export interface TransportRequest {
  readonly method: string;
  /** A path (`/v2/…`) on the registry or an absolute URL (an upload `Location`). */
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: RequestBody;
  /** Token scopes the request needs, e.g. `repository:a:pull`. */
  readonly scopes: readonly string[];
  /** Statuses that count as success; anything else throws. */
  readonly expect: readonly number[];
  /** Retry on 5xx/429/resets (only if the body can be produced again). @default true */
  readonly retry?: boolean;
  readonly signal?: AbortSignal;
}

/** A successful response and the URL it finally came from (after redirects). */
export interface TransportResponse {
  readonly res: HttpResponse;
  readonly url: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** GET/HEAD follow every redirect; other methods only 307/308 (same method, body produced again) and 303 (as GET). */
function followable(status: number, method: string): boolean {
  return method === 'GET' || method === 'HEAD' || status === 307 || status === 308 || status === 303;
}

/** A fetch failure as a RegistryError naming the request (never its headers). */
function transportError(method: string, url: string, error: unknown): RegistryError {
  if (isLengthMismatch(error)) {
    return new RegistryError('SIZE_MISMATCH', `${method} ${displayUrl(url)}: the body's length differs from the declared Content-Length`);
  }
  const cause = error as Error;
  const detail = cause.cause instanceof Error ? ` (${cause.cause.message})` : '';
  return new RegistryError('NETWORK', `${method} ${displayUrl(url)}: ${cause.message}${detail}`, { cause: error });
}

/** Speaks HTTP to one registry: ping, challenge, tokens, Basic, redirects, retries. */
export class RegistryTransport {
  readonly registry: string;
  #base: string;
  readonly #options: TransportOptions;
  readonly #scopes = new ScopeSet();
  readonly #warned = new Set<string>();
  #challenge: Promise<Challenge | undefined> | undefined;
  #credential: Promise<FoundCredential | undefined> | undefined;
  #credentialSource = 'anonymous';
  readonly #redactor = new Redactor();
  #watched: HttpFetch | undefined;
  #token: { token: BearerToken; scopes: ScopeSet } | undefined;
  #pendingToken: Promise<BearerToken> | undefined;
  #refreshToken: string | undefined;

  constructor(registry: string, options: TransportOptions = {}) {
    this.registry = registry;
    this.#options = options;
    // An insecure registry that is not loopback is tried over https first, then http (see #ping).
    const scheme = options.insecure && registryScheme(registry) === 'https' ? 'https' : registryScheme(registry, options.insecure);
    this.#base = `${scheme}://${apiHost(registry)}`;
  }

  get retryOptions(): RetryOptions {
    return this.#options.retry ?? {};
  }

  #fetch(): HttpFetch {
    this.#watched ??= watchedFetch((this.#options.fetch as unknown as HttpFetch | undefined) ?? defaultFetch(), this.#options);
    return this.#watched;
  }

  /** The credential for this registry (looked up once), or undefined for anonymous access. */
  async credential(repository?: string): Promise<Credential | undefined> {
    this.#credential ??= this.#lookup(repository).then((found) => {
      this.#redactor.addCredential(found?.credential);
      this.#credentialSource = found ? found.source : 'anonymous';
      return found;
    });
    return (await this.#credential)?.credential;
  }

  async #lookup(repository?: string): Promise<FoundCredential | undefined> {
    const source = this.#options.credential;
    if (source === null) return undefined;
    if (typeof source === 'function') {
      const found = await source(this.registry, repository);
      if (!found || 'credential' in found) return found;
      return { credential: found, source: 'the credential function' };
    }
    if (source) return 'credential' in source ? source : { credential: source, source: 'the credential option' };
    return findCredential(this.registry, repository, this.#options.authFile ? { authFile: this.#options.authFile } : {});
  }

  /** What a 401 should say was tried: `credentials from FILE` or `anonymous`, never the secret. */
  #tried(): string {
    return this.#credentialSource === 'anonymous' ? 'anonymous' : `credentials from ${this.#credentialSource}`;
  }

  /** GET /v2/ once: learns whether and how the registry wants authentication. */
  ping(signal?: AbortSignal): Promise<Challenge | undefined> {
    this.#challenge ??= this.#ping(signal).catch((error) => {
      this.#challenge = undefined;
      throw this.#redactor.scrubError(error);
    });
    return this.#challenge;
  }

  /** `scheme://host` requests go to (settled by the first ping for insecure registries). */
  get base(): string {
    return this.#base;
  }

  async #ping(signal?: AbortSignal): Promise<Challenge | undefined> {
    let res: HttpResponse;
    try {
      // Probing https on an insecure registry: no retries, a plain-http server fails at once.
      res = await this.#get(`${this.#base}/v2/`, signal, !this.#options.insecure);
    } catch (error) {
      if (!this.#options.insecure || !this.#base.startsWith('https:') || !(error instanceof RegistryError && error.code === 'NETWORK')) throw error;
      // go-containerregistry's insecure fallback: a registry that does not speak TLS gets plain http.
      this.#base = `http:${this.#base.slice('https:'.length)}`;
      res = await this.#get(`${this.#base}/v2/`, signal);
    }
    const url = `${this.#base}/v2/`;
    await res.body?.cancel();
    if (res.status === 200) return undefined;
    const challenge = pickChallenge(parseChallenges(res.headers.get('www-authenticate') ?? ''));
    if (!challenge) throw new RegistryError('UNAUTHORIZED', `GET ${url}: 401 with no Basic or Bearer challenge`);
    return challenge;
  }

  async #get(url: string, signal?: AbortSignal, retry = true): Promise<HttpResponse> {
    const request = { method: 'GET', url, scopes: [], expect: [200, 401], retry, ...(signal ? { signal } : {}) };
    return (await this.#withRetries(request, () => this.#follow('GET', url, {}, undefined, signal))).res;
  }

  async #bearer(challenge: Challenge, repository: string | undefined, signal?: AbortSignal): Promise<string> {
    const current = this.#token;
    const wanted = this.#scopes;
    if (current && current.token.expiresAt - 5000 > Date.now() && current.scopes.covers(wanted.list())) return current.token.token;
    this.#pendingToken ??= this.#newToken(challenge, repository, signal).finally(() => {
      this.#pendingToken = undefined;
    });
    return (await this.#pendingToken).token;
  }

  async #newToken(challenge: Challenge, repository: string | undefined, signal?: AbortSignal): Promise<BearerToken> {
    const scopes = this.#scopes.clone();
    const stored = await this.credential(repository);
    const credential: Credential | undefined = this.#refreshToken ? { kind: 'identity', token: this.#refreshToken } : stored;
    const token = await fetchToken({
      redactor: this.#redactor,
      realm: challenge.params.realm ?? '',
      scopes: scopes.list(),
      registry: this.registry,
      insecure: this.base.startsWith('http:'),
      fetch: this.#fetch(),
      ...(challenge.params.service !== undefined ? { service: challenge.params.service } : {}),
      ...(credential ? { credential } : {}),
      ...(this.#options.passwordGrant ? { passwordGrant: true } : {}),
      ...(this.#options.offlineToken ? { offlineToken: true } : {}),
      ...(signal ? { signal } : {}),
    }).catch((error: unknown) => {
      // A refusal says which credentials were refused; a broken connection has nothing to do with them.
      if (error instanceof RegistryError && ['UNAUTHORIZED', 'DENIED', 'TOKEN'].includes(error.code)) error.message += ` (${this.#tried()})`;
      throw error;
    });
    this.#redactor.add(token.token, token.refreshToken);
    if (token.refreshToken) this.#refreshToken = token.refreshToken;
    this.#token = { token, scopes };
    return token;
  }

  async #authorization(repository: string | undefined, signal?: AbortSignal): Promise<string | undefined> {
    const challenge = await this.ping(signal);
    if (!challenge) return undefined;
    const credential = await this.credential(repository);
    if (credential && !mayCarryCredentials(new URL(this.base))) {
      throw new RegistryError('INSECURE_CREDENTIALS', `${this.base}: refusing to send ${this.#tried()} over plain http to a host off loopback (only https, or loopback)`);
    }
    if (credential?.kind === 'registry-token') return `Bearer ${credential.token}`;
    if (challenge.scheme === 'basic') {
      return credential?.kind === 'basic' ? `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}` : undefined;
    }
    return `Bearer ${await this.#bearer(challenge, repository, signal)}`;
  }

  /** Sends a request with authentication, redirects and retries; throws a RegistryHttpError on an unexpected status. */
  async send(req: TransportRequest): Promise<TransportResponse> {
    try {
      return await this.#send(req);
    } catch (error) {
      if (error instanceof RegistryHttpError && error.status === 401) error.message += ` (${this.#tried()})`;
      throw this.#redactor.scrubError(error);
    }
  }

  async #send(req: TransportRequest): Promise<TransportResponse> {
    this.#scopes.add(req.scopes);
    await this.ping(req.signal);
    const repository = req.scopes[0]?.split(':')[1];
    const url = req.url.startsWith('/') ? `${this.base}${req.url}` : req.url;
    let reauthorized = false;
    return this.#withRetries(req, async () => {
      for (;;) {
        const auth = await this.#authorization(repository, req.signal);
        const headers: Record<string, string> = { 'user-agent': this.#options.userAgent ?? 'strata-registry/0.1', ...req.headers };
        const result = await this.#follow(req.method, url, headers, req.body, req.signal, auth);
        if (result.res.status !== 401 || reauthorized || !this.#learn(result.res, auth !== undefined)) return result;
        // A new scope or a stale token: get a new token and try once more (regclient stops after one).
        await result.res.body?.cancel();
        reauthorized = true;
      }
    });
  }

  /**
   * Sends an idempotent request and reads its (small) body: a body that breaks or stalls is asked
   * for again within the retry budget, and bytes `verify` finds corrupt (DIGEST_MISMATCH,
   * SIZE_MISMATCH) are fetched once more before the mismatch is reported.
   */
  async read(req: TransportRequest, limit: number, what: string, verify?: (bytes: Buffer, res: HttpResponse) => void): Promise<TransportResponse & { bytes: Buffer }> {
    const attempts = req.retry === false ? 1 : (this.retryOptions.attempts ?? DEFAULT_ATTEMPTS);
    let refetched = false;
    for (let n = 1; ; n++) {
      const sent = await this.send(req);
      try {
        const bytes = await readLimited(sent.res, limit, what);
        verify?.(bytes, sent.res);
        return { ...sent, bytes };
      } catch (error) {
        if (req.signal?.aborted) throw abortReason(req.signal);
        const corrupt = error instanceof RegistryError && (error.code === 'DIGEST_MISMATCH' || error.code === 'SIZE_MISMATCH');
        if (corrupt && !refetched) {
          refetched = true;
          continue;
        }
        if (!corrupt && n < attempts && isTransient(error)) {
          await sleep(backoffDelay(n, this.retryOptions), req.signal);
          continue;
        }
        throw this.#redactor.scrubError(error);
      }
    }
  }

  /** After a 401: records a new scope from its challenge; true when a fresh token is worth trying. */
  #learn(res: HttpResponse, sentAuth: boolean): boolean {
    const challenge = pickChallenge(parseChallenges(res.headers.get('www-authenticate') ?? ''));
    if (!challenge) return false;
    // The latest challenge wins: a registry may allow anonymous pings yet protect repositories.
    this.#challenge = Promise.resolve(challenge);
    if (challenge.scheme !== 'bearer') return !sentAuth;
    const scopes = (challenge.params.scope ?? '').split(' ').filter(Boolean);
    const added = this.#scopes.add(scopes);
    const hadToken = this.#token !== undefined;
    this.#token = undefined;
    // No new scope and a token we just sent: another attempt would loop (regclient ErrNoNewChallenge).
    return added || !hadToken;
  }

  async #withRetries(req: TransportRequest, attempt: () => Promise<TransportResponse>): Promise<TransportResponse> {
    const options = this.retryOptions;
    const attempts = req.retry === false ? 1 : (options.attempts ?? DEFAULT_ATTEMPTS);
    for (let n = 1; ; n++) {
      if (req.signal?.aborted) throw abortReason(req.signal);
      let result: TransportResponse;
      try {
        result = await attempt();
      } catch (error) {
        if (req.signal?.aborted) throw abortReason(req.signal);
        if (n < attempts && isTransient(error)) {
          await sleep(backoffDelay(n, options), req.signal);
          continue;
        }
        // Only a failure of the fetch itself is a NETWORK error; anything else (a credential lookup's own error) passes as it is.
        if (error instanceof RegistryError || !(isNetworkError(error) || isLengthMismatch(error))) throw error;
        throw transportError(req.method, req.url.startsWith('/') ? this.base + req.url : req.url, error);
      }
      const { res, url } = result;
      this.#warn(res);
      if (req.expect.includes(res.status)) return result;
      if (n < attempts && isRetryableStatus(res.status)) {
        await res.body?.cancel();
        await sleep(backoffDelay(n, options, parseRetryAfter(res.headers.get('retry-after'))), req.signal);
        continue;
      }
      throw await responseError(res, req.method, url);
    }
  }

  #warn(res: HttpResponse): void {
    const header = res.headers.get('warning');
    if (!header || !this.#options.onWarning) return;
    for (const match of header.matchAll(/299\s+\S+\s+"((?:[^"\\]|\\.)*)"/g)) {
      const text = match[1]!.replace(/\\(.)/g, '$1');
      if (!this.#warned.has(text)) {
        this.#warned.add(text);
        this.#options.onWarning(text);
      }
    }
  }

  /** One request, following up to 10 redirects by hand; Authorization goes only to the registry host. */
  async #follow(method: string, start: string, headers: Record<string, string>, body: RequestBody | undefined, signal?: AbortSignal, auth?: string): Promise<TransportResponse> {
    const registryHost = new URL(this.base).host;
    let url = new URL(start);
    let currentMethod = method;
    let currentBody = body;
    for (let hop = 0; hop <= 10; hop++) {
      const h = { ...headers };
      if (auth && url.host === registryHost) h.authorization = auth;
      const payload = typeof currentBody === 'function' ? currentBody() : currentBody;
      const res = await this.#fetch()(url, {
        method: currentMethod,
        headers: h,
        redirect: 'manual',
        ...(payload !== undefined ? { body: payload, duplex: 'half' } : {}),
        ...(signal ? { signal } : {}),
      });
      const location = res.headers.get('location');
      if (!REDIRECTS.has(res.status) || !location || !followable(res.status, currentMethod)) return { res, url: url.href };
      await res.body?.cancel();
      const next = new URL(location, url);
      if (isPrivateHost(next.host) && !isPrivateHost(url.host)) {
        throw new RegistryError('REDIRECT', `${method} ${displayUrl(start)}: refusing a redirect from a public host to ${next.host}`);
      }
      if (res.status === 303) currentBody = undefined;
      url = next;
      currentMethod = res.status === 303 && currentMethod !== 'HEAD' ? 'GET' : currentMethod;
    }
    throw new RegistryError('REDIRECT', `${method} ${displayUrl(start)}: more than 10 redirects`);
  }
}
