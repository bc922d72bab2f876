import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  hasPeers,
  makeTempDir,
  run,
  type RunningRegistry,
  type RunningTokenServer,
  startRegistry,
  startTokenServer,
  type TempDir,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Credential, pullImage, pushImage, RegistryClient, resolveCredential } from '../src/index.js';
import { mixedImage, randomLayers } from './_fixtures.js';

const fast = { retry: { delayMs: 10 } };
const alice: Credential = { kind: 'basic', username: 'alice', password: 'wonder-land-7' };

function expectNoSecret(error: unknown, ...secrets: string[]): void {
  const text = `${(error as Error).message} ${(error as Error).stack ?? ''} ${JSON.stringify(error)}`;
  for (const s of secrets) {
    expect(text).not.toContain(s);
    expect(text).not.toContain(Buffer.from(`alice:${s}`).toString('base64'));
  }
}

describe.runIf(hasPeers('docker-registry', 'htpasswd'))('htpasswd (Basic) registry', () => {
  let reg: RunningRegistry;
  let dir: TempDir;
  beforeAll(async () => {
    dir = await makeTempDir('strata-registry-basic-');
    const { stdout } = await run('htpasswd', ['-Bbn', 'alice', 'wonder-land-7']);
    await writeFile(join(dir.path, 'htpasswd'), stdout);
    reg = await startRegistry({ extraConfig: `auth: {htpasswd: {realm: strata-test, path: ${join(dir.path, 'htpasswd')}}}` });
  });
  afterAll(async () => {
    await reg.stop();
    await dir.remove();
  });

  it('pushes and pulls with credentials found in DOCKER_CONFIG/config.json', async () => {
    const docker = join(dir.path, 'docker');
    await mkdir(docker, { recursive: true });
    await writeFile(join(docker, 'config.json'), JSON.stringify({ auths: { [`http://${reg.host}/v2/`]: { auth: Buffer.from('alice:wonder-land-7').toString('base64') } } }));
    const credential = (registry: string, repository?: string) => resolveCredential(registry, repository, { env: { DOCKER_CONFIG: docker }, homeDir: dir.path });
    const pushed = await pushImage(`${reg.host}/strata/basic:1`, mixedImage(randomLayers([1000, 2000, 3000])), { ...fast, credential });
    const pulled = await pullImage(`${reg.host}/strata/basic:1`, { ...fast, credential });
    expect(pulled.digest).toBe(pushed.digest);
  });

  it('fails anonymous access with UNAUTHORIZED', async () => {
    const error = await new RegistryClient(reg.host, { ...fast, credential: null }).fetchManifest('strata/basic', '1').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
  });

  it('never puts the password into an error', async () => {
    const wrong: Credential = { kind: 'basic', username: 'alice', password: 'not-the-password-42' };
    const error = await pushImage(`${reg.host}/strata/basic:2`, mixedImage(randomLayers([10, 20, 30])), { ...fast, credential: wrong }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'UNAUTHORIZED' });
    expectNoSecret(error, 'not-the-password-42');
  });
});

describe.runIf(hasPeers('docker-registry', 'openssl'))('token (Bearer JWT) registry', () => {
  let reg: RunningRegistry;
  let tokens: RunningTokenServer;
  let dir: TempDir;
  beforeAll(async () => {
    dir = await makeTempDir('strata-registry-token-');
    tokens = await startTokenServer({
      users: { alice: 'wonder-land-7', bob: 'builder-9' },
      grant: (user, _repo, actions) => (user === 'bob' ? actions.filter((a) => a === 'pull') : actions),
    });
    reg = await startRegistry({ extraConfig: tokens.registryConfig });
  });
  afterAll(async () => {
    await reg.stop();
    await tokens.stop();
    await dir.remove();
  });

  it('gets a token with the push scope first and merged actions, then pushes and pulls', async () => {
    const pushed = await pushImage(`${reg.host}/strata/token:1`, mixedImage(randomLayers([1000, 2000, 3000])), { ...fast, credential: alice });
    const scoped = tokens.requests.filter((r) => r.scopes.length > 0);
    expect(scoped[0]).toMatchObject({ method: 'GET', user: 'alice', status: 200 });
    expect(scoped.at(-1)!.scopes[0]).toBe('repository:strata/token:pull,push');
    const pulled = await pullImage(`${reg.host}/strata/token:1`, { ...fast, credential: alice });
    expect(pulled.digest).toBe(pushed.digest);
  });

  it('fails a push when the token server grants only pull, without looping', async () => {
    const before = tokens.requests.length;
    const error = await pushImage(`${reg.host}/strata/token:2`, mixedImage(randomLayers([10, 20, 30])), {
      ...fast,
      credential: { kind: 'basic', username: 'bob', password: 'builder-9' },
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    expect(tokens.requests.length - before).toBeLessThanOrEqual(3);
    expectNoSecret(error, 'builder-9');
  });

  it('reports a refused login at the token endpoint without the password', async () => {
    const error = await new RegistryClient(reg.host, { ...fast, credential: { kind: 'basic', username: 'alice', password: 'bad-pass-1234' } })
      .fetchManifest('strata/token', '1')
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'UNAUTHORIZED' });
    expect((error as Error).message).toMatch(/^token endpoint: GET http:\/\/127\.0\.0\.1:\d+\/token: 401/);
    expectNoSecret(error, 'bad-pass-1234');
  });

  it('keeps a refresh token and uses it with the refresh_token grant', async () => {
    await new RegistryClient(reg.host, { ...fast, credential: alice, offlineToken: true }).fetchManifest('strata/token', '1');
    const refresh = tokens.refreshTokens.at(-1)!;
    expect(refresh).toMatch(/^[0-9a-f]{32}$/);
    const client = new RegistryClient(reg.host, { ...fast, credential: { kind: 'identity', token: refresh } });
    const fetched = await client.fetchManifest('strata/token', '1');
    expect(fetched.digest).toMatch(/^sha256:/);
    expect(tokens.requests.at(-1)).toMatchObject({ method: 'POST', grant: 'refresh_token', user: 'alice', status: 200 });
  });

  it('uses the OAuth2 password grant when asked', async () => {
    await new RegistryClient(reg.host, { ...fast, credential: alice, passwordGrant: true }).fetchManifest('strata/token', '1');
    expect(tokens.requests.at(-1)).toMatchObject({ method: 'POST', grant: 'password', user: 'alice', status: 200 });
  });

  it('runs a docker credential helper named in credHelpers', async () => {
    const bin = join(dir.path, 'bin');
    const docker = join(dir.path, 'docker');
    await mkdir(bin, { recursive: true });
    await mkdir(docker, { recursive: true });
    const helper = join(bin, 'docker-credential-strata-test');
    await writeFile(
      helper,
      `#!/bin/sh\nread server\nif [ "$1" = get ] && [ "$server" = "${reg.host}" ]; then\n  echo '{"ServerURL":"${reg.host}","Username":"alice","Secret":"wonder-land-7"}'\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n`,
    );
    await chmod(helper, 0o755);
    await writeFile(join(docker, 'config.json'), JSON.stringify({ credHelpers: { [reg.host]: 'strata-test' } }));
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath}`;
    try {
      const env = { DOCKER_CONFIG: docker };
      expect(await resolveCredential('other.example:5000', undefined, { env, homeDir: dir.path })).toBeUndefined();
      const credential = (registry: string, repository?: string) => resolveCredential(registry, repository, { env, homeDir: dir.path });
      const pushed = await pushImage(`${reg.host}/strata/helper:1`, mixedImage(randomLayers([100, 200, 300])), { ...fast, credential });
      expect(pushed.layers.map((l) => l.status)).toEqual(['uploaded', 'uploaded', 'uploaded']);
      expect(tokens.requests.at(-1)).toMatchObject({ user: 'alice', status: 200 });
    } finally {
      process.env.PATH = savedPath;
    }
  });
});
