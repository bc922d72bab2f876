import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as z from 'zod';
import { RegistryError } from './errors.js';
import { DOCKER_HUB, DOCKER_HUB_CREDENTIAL_KEY } from './reference.js';

/** A secret to authenticate to a registry with. */
export type Credential =
  /** A user name and password, sent as Basic or exchanged for a Bearer token. */
  | { readonly kind: 'basic'; readonly username: string; readonly password: string }
  /** An OAuth2 refresh token (docker's `identitytoken`), exchanged at the token endpoint. */
  | { readonly kind: 'identity'; readonly token: string; readonly username?: string }
  /** A ready Bearer token (docker's `registrytoken`), sent as is. */
  | { readonly kind: 'registry-token'; readonly token: string };

/** What a credential helper run returned. */
export interface HelperResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

/** A credential and where it was found (a file path, `DOCKER_AUTH_CONFIG`, a helper): never the secret. */
export interface FoundCredential {
  readonly credential: Credential;
  readonly source: string;
}

/** Options for {@link resolveCredential}. */
export interface ResolveCredentialOptions {
  /** The only auth file to read (podman's and skopeo's `--authfile`); it must exist. @default the search described at {@link findCredential} */
  readonly authFile?: string;
  /** Environment to read `REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR`, `XDG_CONFIG_HOME`, `DOCKER_AUTH_CONFIG`, `DOCKER_CONFIG` from. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Home directory for `~/.docker` and `~/.config/containers`. @default os.homedir() */
  readonly homeDir?: string;
  /** Reads a config file; resolves undefined when it does not exist. @default fs.readFile */
  readonly readConfig?: (path: string) => Promise<string | undefined>;
  /** Runs `program args` with `input` on stdin (credential helpers). @default child_process.spawn */
  readonly runHelper?: (program: string, args: readonly string[], input: string) => Promise<HelperResult>;
}

const authEntry = z.looseObject({
  auth: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  identitytoken: z.string().optional(),
  registrytoken: z.string().optional(),
});
const configFile = z.looseObject({
  auths: z.record(z.string(), authEntry).optional(),
  credHelpers: z.record(z.string(), z.string()).optional(),
  credsStore: z.string().optional(),
});
type ConfigFile = z.infer<typeof configFile>;

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
}

/** Runs a program with stdin, collecting its output; used for `docker-credential-*` helpers. */
export function runCredentialHelper(program: string, args: readonly string[], input: string): Promise<HelperResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c;
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c;
    });
    child.stdin.on('error', () => {});
    child.on('error', (error) =>
      reject(new RegistryError('CREDENTIALS', `credential helper ${program} could not be started: ${error.message}`, { cause: error })),
    );
    child.on('close', (code) => resolve({ stdout, stderr, exitCode: code ?? 1 }));
    child.stdin.end(input);
  });
}

/**
 * The auth files to search when none is given explicitly, in containers-auth.json(5)'s order:
 * `$XDG_RUNTIME_DIR/containers/auth.json`, `$XDG_CONFIG_HOME/containers/auth.json` (default
 * `~/.config`), then Docker's `$DOCKER_CONFIG/config.json` (default `~/.docker`).
 * `REGISTRY_AUTH_FILE`, like `--authfile`, replaces the whole search.
 */
export function credentialFiles(env: Readonly<Record<string, string | undefined>>, home: string): string[] {
  if (env.REGISTRY_AUTH_FILE) return [env.REGISTRY_AUTH_FILE];
  const files: string[] = [];
  if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, 'containers/auth.json'));
  files.push(join(env.XDG_CONFIG_HOME || join(home, '.config'), 'containers/auth.json'));
  files.push(join(env.DOCKER_CONFIG ?? join(home, '.docker'), 'config.json'));
  return files;
}

/** "line L, column C" of a character offset, so a syntax error can be located without quoting the text. */
function location(text: string, offset: number): string {
  const before = text.slice(0, offset).split('\n');
  return `line ${before.length}, column ${before.at(-1)!.length + 1}`;
}

function parseConfig(text: string, source: string): ConfigFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    // V8's message quotes the text around the error, which is where a password sits: keep only the position.
    const offset = /at position (\d+)/.exec((error as Error).message);
    throw new RegistryError('CREDENTIALS', `${source}: not valid JSON${offset ? ` (at ${location(text, Number(offset[1]))})` : ''}`);
  }
  const parsed = configFile.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    // The path names keys (registry hosts, field names); `expected` says what was wanted; the value is never shown.
    const expected = 'expected' in issue ? `expected ${String(issue.expected)}` : issue.code;
    throw new RegistryError('CREDENTIALS', `${source}: ${issue.path.join('.')}: ${expected}`);
  }
  return parsed.data;
}

/** Strips scheme and path from an `auths` key (docker/cli `ConvertToHostname`). */
function keyHostname(key: string): string {
  const noScheme = key.replace(/^[a-z]+:\/\//i, '');
  return noScheme.split('/')[0]!;
}

function hubAliases(registry: string): string[] {
  return registry === DOCKER_HUB ? [DOCKER_HUB_CREDENTIAL_KEY, 'docker.io', 'index.docker.io', 'registry-1.docker.io'] : [registry];
}

function findAuth(auths: NonNullable<ConfigFile['auths']>, registry: string, repository?: string): [string, z.infer<typeof authEntry>] | undefined {
  const aliases = hubAliases(registry);
  const exact = [...(repository ? aliases.map((a) => `${a}/${repository}`) : []), ...aliases];
  for (const key of exact) if (auths[key]) return [key, auths[key]];
  for (const [key, entry] of Object.entries(auths)) if (aliases.includes(keyHostname(key))) return [key, entry];
  return undefined;
}

function entryCredential(entry: z.infer<typeof authEntry>, where: string): Credential | undefined {
  if (entry.registrytoken) return { kind: 'registry-token', token: entry.registrytoken };
  let username = entry.username ?? '';
  let password = entry.password ?? '';
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) throw new RegistryError('CREDENTIALS', `${where}.auth: not base64 of user:password`);
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1).replace(/\0+$/, '');
  }
  if (entry.identitytoken) return { kind: 'identity', token: entry.identitytoken, ...(username ? { username } : {}) };
  if (!entry.auth && !username && !password) return undefined;
  if (!username) throw new RegistryError('CREDENTIALS', `${where}: empty user name`);
  return { kind: 'basic', username, password };
}

async function fromHelper(helper: string, registry: string, options: ResolveCredentialOptions): Promise<Credential | undefined> {
  const program = `docker-credential-${helper}`;
  const serverUrl = registry === DOCKER_HUB ? DOCKER_HUB_CREDENTIAL_KEY : registry;
  const result = await (options.runHelper ?? runCredentialHelper)(program, ['get'], serverUrl);
  if (result.exitCode !== 0) {
    if (/credentials not found/i.test(result.stdout + result.stderr)) return undefined;
    // Never echo stdout: a half-broken helper may have printed the secret.
    throw new RegistryError('CREDENTIALS', `${program} get ${serverUrl} exited ${result.exitCode}: ${result.stderr.trim().slice(0, 200)}`);
  }
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(result.stdout) as typeof parsed;
  } catch {
    throw new RegistryError('CREDENTIALS', `${program} get ${serverUrl}: output is not JSON`);
  }
  const username = typeof parsed.Username === 'string' ? parsed.Username : '';
  const secret = typeof parsed.Secret === 'string' ? parsed.Secret : '';
  if (username === '<token>') return { kind: 'identity', token: secret };
  if (!username && !secret) return undefined;
  return { kind: 'basic', username, password: secret };
}

async function fromConfig(config: ConfigFile, source: string, registry: string, repository: string | undefined, options: ResolveCredentialOptions) {
  const helper = hubAliases(registry)
    .map((a) => config.credHelpers?.[a])
    .find(Boolean);
  if (helper) return fromHelper(helper, registry, options);
  if (config.credsStore) return fromHelper(config.credsStore, registry, options);
  const found = config.auths ? findAuth(config.auths, registry, repository) : undefined;
  return found ? entryCredential(found[1], `${source}: auths[${JSON.stringify(found[0])}]`) : undefined;
}

async function fromText(text: string, source: string, registry: string, repository: string | undefined, options: ResolveCredentialOptions) {
  const credential = await fromConfig(parseConfig(text, source), source, registry, repository, options);
  return credential ? { credential, source } : undefined;
}

/**
 * Finds the credential for a registry as podman and skopeo do (containers-auth.json(5)), and says
 * where it came from. With `authFile` (or `REGISTRY_AUTH_FILE`) only that file is read, and it must
 * exist; otherwise `$XDG_RUNTIME_DIR/containers/auth.json`, `~/.config/containers/auth.json`,
 * `DOCKER_AUTH_CONFIG`, then `$DOCKER_CONFIG/config.json` (or `~/.docker/config.json`), first match
 * wins. In each: `credHelpers[host]`, then `credsStore`, then `auths` (`registry/repository` before
 * `registry`, then keys compared by host name). Resolves undefined for anonymous access.
 * @example await findCredential('ghcr.io', 'org/app') // { credential, source: '/run/user/0/containers/auth.json' }
 */
export async function findCredential(registry: string, repository?: string, options: ResolveCredentialOptions = {}): Promise<FoundCredential | undefined> {
  const env = options.env ?? process.env;
  const read = options.readConfig ?? readIfExists;
  const explicit = options.authFile ?? env.REGISTRY_AUTH_FILE;
  if (explicit) {
    const text = await read(explicit);
    if (text === undefined) throw new RegistryError('CREDENTIALS', `auth file ${explicit} does not exist`);
    return fromText(text, explicit, registry, repository, options);
  }
  const files = credentialFiles(env, options.homeDir ?? homedir());
  // DOCKER_AUTH_CONFIG stands in for Docker's file, so it is read just before it.
  const search: [string, () => Promise<string | undefined>][] = files.slice(0, -1).map((f) => [f, () => read(f)]);
  if (env.DOCKER_AUTH_CONFIG) search.push(['DOCKER_AUTH_CONFIG', async () => env.DOCKER_AUTH_CONFIG]);
  const last = files.at(-1)!;
  search.push([last, () => read(last)]);
  for (const [source, load] of search) {
    const text = await load();
    if (text === undefined) continue;
    const found = await fromText(text, source, registry, repository, options);
    if (found) return found;
  }
  return undefined;
}

/** The credential {@link findCredential} finds, without its source. */
export async function resolveCredential(registry: string, repository?: string, options: ResolveCredentialOptions = {}): Promise<Credential | undefined> {
  return (await findCredential(registry, repository, options))?.credential;
}
