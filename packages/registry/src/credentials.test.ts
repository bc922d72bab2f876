import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findCredential, type HelperResult, resolveCredential } from './credentials.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

const homes: string[] = [];
afterAll(async () => {
  for (const dir of homes) await rm(dir, { recursive: true, force: true });
});

/** Config files in a fresh temp home (removed after the tests); returns options pointing at them. */
async function home(files: Record<string, unknown>, env: Record<string, string> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'strata-cred-'));
  homes.push(dir);
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(join(dir, rel, '..'), { recursive: true });
    await writeFile(join(dir, rel), typeof content === 'string' ? content : JSON.stringify(content));
  }
  const resolvedEnv = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.replace('$HOME', dir)]));
  return { homeDir: dir, env: resolvedEnv };
}

describe('resolveCredential', () => {
  it('reads auths by exact key, then by host name of URL keys, trimming NULs from the password', async () => {
    const opts = await home({ '.docker/config.json': { auths: { 'https://reg.example:5000/v1/': { auth: b64('u:p:with:colons\0\0') } } } });
    expect(await resolveCredential('reg.example:5000', 'app', opts)).toEqual({ kind: 'basic', username: 'u', password: 'p:with:colons' });
  });

  it('prefers registry/repository over the bare registry', async () => {
    const opts = await home({ '.docker/config.json': { auths: { 'r.io': { auth: b64('a:1') }, 'r.io/team/app': { auth: b64('b:2') } } } });
    expect(await resolveCredential('r.io', 'team/app', opts)).toMatchObject({ username: 'b' });
    expect(await resolveCredential('r.io', 'other', opts)).toMatchObject({ username: 'a' });
  });

  it('maps Docker Hub to its legacy key and reads identity and registry tokens', async () => {
    const opts = await home({
      '.docker/config.json': { auths: { 'https://index.docker.io/v1/': { identitytoken: 'refresh-1', auth: b64('me:') }, 'tok.io': { registrytoken: 'bearer-2' } } },
    });
    expect(await resolveCredential('docker.io', 'library/redis', opts)).toEqual({ kind: 'identity', token: 'refresh-1', username: 'me' });
    expect(await resolveCredential('tok.io', undefined, opts)).toEqual({ kind: 'registry-token', token: 'bearer-2' });
  });

  it('honours DOCKER_CONFIG, then REGISTRY_AUTH_FILE and containers auth.json', async () => {
    const opts = await home(
      { 'custom/config.json': { auths: {} }, 'podman.json': { auths: { 'p.io': { auth: b64('pod:man') } } } },
      { DOCKER_CONFIG: '$HOME/custom', REGISTRY_AUTH_FILE: '$HOME/podman.json' },
    );
    expect(await resolveCredential('p.io', undefined, opts)).toMatchObject({ username: 'pod' });
    const xdg = await home({ 'run/containers/auth.json': { auths: { 'x.io': { auth: b64('x:y') } } } }, { XDG_RUNTIME_DIR: '$HOME/run' });
    expect(await resolveCredential('x.io', undefined, xdg)).toMatchObject({ username: 'x' });
  });

  it('runs credHelpers before credsStore before auths, and treats "not found" as anonymous', async () => {
    const calls: string[] = [];
    const runHelper = async (program: string, args: readonly string[], input: string): Promise<HelperResult> => {
      calls.push(`${program} ${args.join(' ')} <${input}`);
      if (program.endsWith('-store')) return { stdout: 'credentials not found in native keychain\n', stderr: '', exitCode: 1 };
      return { stdout: JSON.stringify({ ServerURL: input, Username: '<token>', Secret: 'id-token' }), stderr: '', exitCode: 0 };
    };
    const opts = await home({ '.docker/config.json': { credHelpers: { 'h.io': 'pass' }, credsStore: 'store', auths: { 's.io': { auth: b64('ignored:x') } } } });
    expect(await resolveCredential('h.io', undefined, { ...opts, runHelper })).toEqual({ kind: 'identity', token: 'id-token' });
    expect(await resolveCredential('s.io', undefined, { ...opts, runHelper })).toBeUndefined();
    expect(calls).toEqual(['docker-credential-pass get <h.io', 'docker-credential-store get <s.io']);
  });

  it('reports a failing helper and a bad file without echoing secrets', async () => {
    const runHelper = async (): Promise<HelperResult> => ({ stdout: '{"Secret":"leak-me"}', stderr: 'keychain locked', exitCode: 2 });
    const opts = await home({ '.docker/config.json': { credsStore: 'broken' } });
    const error = await resolveCredential('a.io', undefined, { ...opts, runHelper }).catch((e: Error) => e);
    expect((error as Error).message).toBe('docker-credential-broken get a.io exited 2: keychain locked');
    expect(error).toMatchObject({ code: 'CREDENTIALS' });
    const bad = await home({ '.docker/config.json': { auths: { 'b.io': { auth: 42 } } } });
    await expect(resolveCredential('b.io', undefined, bad)).rejects.toThrow(/config\.json: auths\.b\.io\.auth: /);
    const noUser = await home({ '.docker/config.json': { auths: { 'c.io': { auth: b64(':pw') } } } });
    await expect(resolveCredential('c.io', undefined, noUser)).rejects.toThrow(/auths\["c\.io"\]: empty user name/);
  });

  it('reads DOCKER_AUTH_CONFIG before any file', async () => {
    const opts = await home({ '.docker/config.json': { auths: { 'e.io': { auth: b64('file:1') } } } });
    const env = { DOCKER_AUTH_CONFIG: JSON.stringify({ auths: { 'e.io': { username: 'env', password: '2' } } }) };
    expect(await resolveCredential('e.io', undefined, { ...opts, env })).toEqual({ kind: 'basic', username: 'env', password: '2' });
  });
});

describe('credential sources as podman and skopeo read them', () => {
  // V8 quotes up to ~10 characters around a JSON syntax error: the secret's first characters are enough to leak.
  const secrets = ['hunter2', b64('u:hunter2-secret').slice(0, 8)];
  const noSecret = (error: unknown) => {
    const text = `${(error as Error).message} ${(error as Error).stack} ${JSON.stringify(error)} ${String((error as Error).cause ?? '')}`;
    for (const s of secrets) expect(text).not.toContain(s);
  };

  it('never echoes a secret from a malformed file or DOCKER_AUTH_CONFIG', async () => {
    const bad = [
      `{"auths":{"a.io":{"password":hunter2-secret}}}`,
      `{"auths":{"a.io":{"auth":"${b64('u:hunter2-secret')}"}},}`,
      `{"auths":{"a.io":{"username":"u","password":"hunter2-secret"} "x"}}`,
    ];
    for (const text of bad) {
      const file = await home({ '.docker/config.json': text });
      const error = await resolveCredential('a.io', undefined, file).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'CREDENTIALS' });
      expect((error as Error).message).toMatch(/config\.json: not valid JSON/);
      noSecret(error);
      const env = await resolveCredential('a.io', undefined, { ...file, env: { DOCKER_AUTH_CONFIG: text } }).catch((e: unknown) => e);
      expect((env as Error).message).toMatch(/^DOCKER_AUTH_CONFIG: not valid JSON/);
      noSecret(env);
    }
    const wrongType = await home({ '.config/containers/auth.json': { auths: { 'a.io': { password: ['hunter2-secret'] } } } });
    const error = await resolveCredential('a.io', undefined, wrongType).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/auth\.json: auths\.a\.io\.password: /);
    noSecret(error);
  });

  it('reads REGISTRY_AUTH_FILE alone, before any Docker config, as containers-auth.json(5) says', async () => {
    const opts = await home(
      { '.docker/config.json': { auths: { 'r.io': { auth: b64('docker:1') } } }, 'podman.json': { auths: { 'r.io': { auth: b64('podman:2') } } } },
      { REGISTRY_AUTH_FILE: '$HOME/podman.json' },
    );
    expect(await findCredential('r.io', undefined, opts)).toEqual({
      credential: { kind: 'basic', username: 'podman', password: '2' },
      source: join(opts.homeDir, 'podman.json'),
    });
    const empty = await home({ '.docker/config.json': { auths: { 'r.io': { auth: b64('docker:1') } } }, 'podman.json': { auths: {} } }, { REGISTRY_AUTH_FILE: '$HOME/podman.json' });
    expect(await resolveCredential('r.io', undefined, empty)).toBeUndefined();
  });

  it('searches XDG_RUNTIME_DIR, then XDG_CONFIG_HOME (~/.config), then DOCKER_AUTH_CONFIG, then the Docker config', async () => {
    const files = {
      'run/containers/auth.json': { auths: { 'one.io': { auth: b64('runtime:1') } } },
      'cfg/containers/auth.json': { auths: { 'one.io': { auth: b64('config:2') }, 'two.io': { auth: b64('config:2') } } },
      '.docker/config.json': { auths: { 'two.io': { auth: b64('docker:3') }, 'three.io': { auth: b64('docker:3') } } },
    };
    const opts = await home(files, { XDG_RUNTIME_DIR: '$HOME/run', XDG_CONFIG_HOME: '$HOME/cfg' });
    expect((await findCredential('one.io', undefined, opts))?.source).toBe(join(opts.homeDir, 'run/containers/auth.json'));
    expect((await findCredential('two.io', undefined, opts))?.source).toBe(join(opts.homeDir, 'cfg/containers/auth.json'));
    expect((await findCredential('three.io', undefined, opts))?.source).toBe(join(opts.homeDir, '.docker/config.json'));
    const env = { ...opts.env, DOCKER_AUTH_CONFIG: JSON.stringify({ auths: { 'three.io': { auth: b64('env:4') } } }) };
    expect(await findCredential('three.io', undefined, { ...opts, env })).toMatchObject({ source: 'DOCKER_AUTH_CONFIG', credential: { username: 'env' } });
  });

  it('uses an explicit authFile alone and refuses one that does not exist', async () => {
    const opts = await home({ 'mine.json': { auths: {} }, '.docker/config.json': { auths: { 'r.io': { auth: b64('docker:1') } } } });
    expect(await findCredential('r.io', undefined, { ...opts, authFile: join(opts.homeDir, 'mine.json') })).toBeUndefined();
    const missing = join(opts.homeDir, 'nope.json');
    await expect(findCredential('r.io', undefined, { ...opts, authFile: missing })).rejects.toMatchObject({ code: 'CREDENTIALS', message: expect.stringContaining(missing) });
  });
});
