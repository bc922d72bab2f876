import { randomBytes, sign, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { run } from './exec.js';
import { makeTempDir } from './tmp.js';

/** One request the token server answered, for assertions. */
export interface TokenRequest {
  readonly method: string;
  /** `get`, `password` or `refresh_token`. */
  readonly grant: string;
  /** The authenticated user, or undefined for anonymous. */
  readonly user?: string;
  readonly scopes: readonly string[];
  readonly status: number;
}

/** Options for {@link startTokenServer}. */
export interface TokenServerOptions {
  /** User name → password accepted with Basic or the password grant. @default {} */
  readonly users?: Readonly<Record<string, string>>;
  /** Grant `pull` on every repository to anonymous callers. @default false */
  readonly anonymousPull?: boolean;
  /** `expires_in` of issued tokens, seconds. @default 300 */
  readonly expiresIn?: number;
  /** Restrict what a user may do: return the granted actions. @default all requested actions */
  readonly grant?: (user: string | undefined, repository: string, actions: readonly string[]) => readonly string[];
}

/** A running token server and the registry configuration that trusts it. */
export interface RunningTokenServer {
  /** The realm URL (`http://127.0.0.1:PORT/token`). */
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** PEM file of the self-signed certificate the registry trusts (`rootcertbundle`). */
  readonly rootCertBundle: string;
  /** YAML for {@link startRegistry}'s `extraConfig`: `auth: {token: …}`. */
  readonly registryConfig: string;
  /** Every request answered so far. */
  readonly requests: readonly TokenRequest[];
  /** Refresh tokens issued so far (their values). */
  readonly refreshTokens: readonly string[];
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function parseScopes(scopes: readonly string[]) {
  return scopes.flatMap((s) => s.split(' ')).filter(Boolean).map((scope) => {
    const parts = scope.split(':');
    return { type: parts[0] ?? '', name: parts.slice(1, -1).join(':'), actions: (parts.at(-1) ?? '').split(',').filter(Boolean) };
  });
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}

function basicUser(req: IncomingMessage): [string, string] | undefined {
  const header = req.headers.authorization ?? '';
  if (!header.startsWith('Basic ')) return undefined;
  const text = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon === -1 ? undefined : [text.slice(0, colon), text.slice(colon + 1)];
}

/**
 * Starts a token server for distribution's `auth: token` on loopback. It makes an EC P-256 key and
 * a self-signed certificate with openssl and signs ES256 JWTs whose header carries the certificate
 * in `x5c`, which the registry verifies against `rootcertbundle`. It answers GET (Basic or
 * anonymous), the OAuth2 password grant and the refresh-token grant, and issues refresh tokens when
 * asked (`offline_token=true` or `access_type=offline`).
 */
export async function startTokenServer(options: TokenServerOptions = {}): Promise<RunningTokenServer> {
  const dir = await makeTempDir('strata-token-');
  const keyPath = join(dir.path, 'key.pem');
  const certPath = join(dir.path, 'cert.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyPath, '-out', certPath, '-subj', '/CN=strata-test-token-issuer', '-days', '2']);
  const key = await readFile(keyPath, 'utf8');
  const x5c = new X509Certificate(await readFile(certPath)).raw.toString('base64');
  const service = 'strata-test-registry';
  const issuer = 'strata-test-issuer';
  const requests: TokenRequest[] = [];
  const refresh = new Map<string, string>();

  const issue = (user: string | undefined, scopes: readonly string[], withRefresh: boolean) => {
    const now = Math.floor(Date.now() / 1000);
    const access = parseScopes(scopes).map((s) => ({
      ...s,
      actions: user === undefined && !options.anonymousPull ? [] : options.grant ? [...options.grant(user, s.name, s.actions)] : user ? s.actions : s.actions.filter((a) => a === 'pull'),
    }));
    const expiresIn = options.expiresIn ?? 300;
    const claims = { iss: issuer, sub: user ?? '', aud: service, exp: now + expiresIn, nbf: now - 1, iat: now, jti: randomBytes(8).toString('hex'), access };
    const signingInput = `${b64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [x5c] }))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' });
    const token = `${signingInput}.${b64url(signature)}`;
    const body: Record<string, unknown> = { token, access_token: token, expires_in: expiresIn, issued_at: new Date(now * 1000).toISOString() };
    if (withRefresh && user) {
      const value = randomBytes(16).toString('hex');
      refresh.set(value, user);
      body.refresh_token = value;
    }
    return body;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const reply = (status: number, body: unknown, record: Omit<TokenRequest, 'status'>) => {
      requests.push({ ...record, status });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname !== '/token') return reply(404, { error: 'not found' }, { method: req.method ?? '', grant: 'none', scopes: [] });
    if (req.method === 'POST') {
      const form = new URLSearchParams(await readBody(req));
      const grant = form.get('grant_type') ?? '';
      const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
      let user: string | undefined;
      if (grant === 'refresh_token') user = refresh.get(form.get('refresh_token') ?? '');
      else if (grant === 'password' && options.users?.[form.get('username') ?? ''] === form.get('password')) user = form.get('username') ?? undefined;
      if (!user) return reply(401, { error: 'invalid_grant' }, { method: 'POST', grant, scopes });
      return reply(200, issue(user, scopes, grant === 'password' && form.get('access_type') === 'offline'), { method: 'POST', grant, user, scopes });
    }
    const scopes = url.searchParams.getAll('scope');
    const basic = basicUser(req);
    if (basic && options.users?.[basic[0]] !== basic[1]) return reply(401, { details: 'bad credentials' }, { method: 'GET', grant: 'get', scopes });
    if (!basic && !options.anonymousPull) return reply(401, { details: 'authentication required' }, { method: 'GET', grant: 'get', scopes });
    const user = basic?.[0];
    return reply(200, issue(user, scopes, url.searchParams.get('offline_token') === 'true'), { method: 'GET', grant: 'get', ...(user ? { user } : {}), scopes });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      res.statusCode = 500;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const realm = `http://127.0.0.1:${port}/token`;
  return {
    realm,
    service,
    issuer,
    rootCertBundle: certPath,
    registryConfig: `auth: {token: {realm: "${realm}", service: ${service}, issuer: ${issuer}, rootcertbundle: ${certPath}}}`,
    requests,
    get refreshTokens() {
      return [...refresh.keys()];
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await dir.remove();
    },
  };
}
