import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
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

/** Options for {@link resolveCredential}. */
export interface ResolveCredentialOptions {
  /** Environment to read `DOCKER_CONFIG`, `DOCKER_AUTH_CONFIG`, `REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR` from. @default process.env */
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

/** The config files to search, in go-containerregistry's order (docker first, then containers' auth.json). */
export function credentialFiles(env: Readonly<Record<string, string | undefined>>, home: string): string[] {
  const files = [join(env.DOCKER_CONFIG ?? join(home, '.docker'), 'config.json')];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, 'containers/auth.json'));
  files.push(join(home, '.config/containers/auth.json'));
  return files;
}

function parseConfig(text: string, source: string): ConfigFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new RegistryError('CREDENTIALS', `${source}: not valid JSON: ${(error as Error).message}`);
  }
  const parsed = configFile.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new RegistryError('CREDENTIALS', `${source}: ${issue.path.join('.')}: ${issue.message}`);
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

/**
 * Finds the credential for a registry the way docker and go-containerregistry do:
 * `DOCKER_AUTH_CONFIG`, `$DOCKER_CONFIG/config.json` (or `~/.docker/config.json`),
 * `REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`, `~/.config/containers/auth.json`.
 * In each: `credHelpers[host]`, then `credsStore`, then `auths` (`registry/repository` before
 * `registry`, then keys compared by host name). Resolves undefined for anonymous access.
 * @example await resolveCredential('ghcr.io', 'org/app')
 */
export async function resolveCredential(registry: string, repository?: string, options: ResolveCredentialOptions = {}): Promise<Credential | undefined> {
  const env = options.env ?? process.env;
  const read = options.readConfig ?? readIfExists;
  if (env.DOCKER_AUTH_CONFIG) {
    const found = await fromConfig(parseConfig(env.DOCKER_AUTH_CONFIG, 'DOCKER_AUTH_CONFIG'), 'DOCKER_AUTH_CONFIG', registry, repository, options);
    if (found) return found;
  }
  for (const file of credentialFiles(env, options.homeDir ?? homedir())) {
    const text = await read(file);
    if (text === undefined) continue;
    const found = await fromConfig(parseConfig(text, file), file, registry, repository, options);
    if (found) return found;
  }
  return undefined;
}
