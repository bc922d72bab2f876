import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { makeTempDir, type TempDir } from './tmp.js';

/** A running distribution registry on loopback. */
export interface RunningRegistry {
  /** `127.0.0.1:PORT`, the host part of image references. */
  readonly host: string;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Where the registry keeps its blobs and manifests. */
  readonly dataDir: string;
  /** Everything the registry printed so far (its request log). */
  log(): string;
  stop(): Promise<void>;
}

/** Options for {@link startRegistry}. */
export interface StartRegistryOptions {
  /**
   * Extra top-level YAML for the registry configuration, e.g. an `auth:` section
   * (`auth: {htpasswd: {realm: r, path: /x/htpasswd}}`).
   */
  readonly extraConfig?: string;
}

/** Finds a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitForHttp(url: string, child: ChildProcess, logs: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited ${child.exitCode}:\n${logs()}`);
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`docker-registry did not answer at ${url}:\n${logs()}`);
}

/** Starts the real distribution registry (Debian's docker-registry) on a free loopback port. */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<RunningRegistry> {
  const dir: TempDir = await makeTempDir('strata-registry-');
  const port = await freePort();
  const dataDir = join(dir.path, 'data');
  const config = [
    'version: 0.1',
    'log: {level: info, accesslog: {disabled: false}}',
    `storage: {filesystem: {rootdirectory: ${dataDir}}, delete: {enabled: true}}`,
    `http: {addr: 127.0.0.1:${port}}`,
    options.extraConfig ?? '',
  ].join('\n');
  const configPath = join(dir.path, 'config.yml');
  await writeFile(configPath, config);
  const child = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (c: Buffer) => {
    output += c.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/v2/`, child, () => output);
  } catch (error) {
    child.kill('SIGKILL');
    await dir.remove();
    throw error;
  }
  return {
    host: `127.0.0.1:${port}`,
    url,
    dataDir,
    log: () => output,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await dir.remove();
    },
  };
}

/**
 * Upload sessions the registry still keeps open under `repository` (a repository, or a path prefix
 * such as `soak` for every repository below it): `_uploads/<uuid>` directories holding `startedat`
 * or `data`. (Distribution 2.8 answers a DELETE by removing those two files but then writes the hash
 * state back, so an empty `hashstates/` skeleton remains: the registry's own leftover, holding no
 * uploaded bytes, which its upload purging removes.)
 */
export async function openUploadSessions(registry: RunningRegistry, repository: string): Promise<string[]> {
  const root = join(registry.dataDir, 'docker/registry/v2/repositories', repository);
  const files = await readdir(root, { recursive: true }).catch(() => [] as string[]);
  const open = new Set<string>();
  for (const file of files) {
    const match = /^(.*_uploads\/[^/]+)\/(startedat|data)$/.exec(file);
    if (match) open.add(match[1]!);
  }
  return [...open].sort();
}
