import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  hasPeers,
  makeDockerArchive,
  makeTempDir,
  openUploadSessions,
  repoRoot,
  run,
  type RunningFaultProxy,
  type RunningRegistry,
  runStrata,
  startFaultProxy,
  startRegistry,
  type TempDir,
} from '@strata/test-utils';
import { MediaType, RegistryClient } from '@strata/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.runIf(hasPeers('docker-registry', 'htpasswd'))('push and pull credentials: --creds, --authfile, REGISTRY_AUTH_FILE', () => {
  let reg: RunningRegistry;
  let dir: TempDir;
  let archive: string;
  const good = Buffer.from('alice:wonder-land-7').toString('base64');
  beforeAll(async () => {
    dir = await makeTempDir('strata-cli-creds-');
    const { stdout } = await run('htpasswd', ['-Bbn', 'alice', 'wonder-land-7']);
    await writeFile(join(dir.path, 'htpasswd'), stdout);
    reg = await startRegistry({ extraConfig: `auth: {htpasswd: {realm: strata-test, path: ${join(dir.path, 'htpasswd')}}}` });
    archive = await makeDockerArchive(dir.path, [1000]);
  });
  afterAll(async () => {
    await reg.stop();
    await dir.remove();
  });

  it('pushes with --creds, and names --creds (never the password) when they are refused', async () => {
    const ok = await runStrata(['push', archive, `${reg.host}/strata/creds:1`, '--creds', 'alice:wonder-land-7']);
    expect(ok.exitCode, ok.stderr).toBe(0);
    const wrong = await runStrata(['push', archive, `${reg.host}/strata/creds:2`, '--creds', 'alice:not-it-31337', '--retry-times', '0']);
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toMatch(/401 UNAUTHORIZED.*\(credentials from --creds\)/);
    expect(wrong.stderr + wrong.stdout).not.toContain('not-it-31337');
    const anonymous = await runStrata(['pull', `${reg.host}/strata/creds:1`, '-o', join(dir.path, 'x.tar'), '--retry-times', '0'], { env: { HOME: dir.path } });
    expect(anonymous.stderr).toMatch(/401 UNAUTHORIZED.*\(anonymous\)/);
  });

  it('refuses a bad --creds as a usage error without quoting it', async () => {
    const empty = await runStrata(['push', archive, `${reg.host}/strata/creds:3`, '--creds', ':secret-pw-42']);
    expect(empty.exitCode).toBe(2);
    expect(empty.stderr).toMatch(/--creds: the user name is empty/);
    expect(empty.stderr).not.toContain('secret-pw-42');
    const noTerminal = await runStrata(['push', archive, `${reg.host}/strata/creds:3`, '--creds', 'alice']);
    expect(noTerminal.exitCode).toBe(2);
    expect(noTerminal.stderr).toMatch(/--creds: no password given and no terminal/);
  });

  it('reads --authfile alone, and REGISTRY_AUTH_FILE before the Docker config', async () => {
    const podman = join(dir.path, 'auth.json');
    await writeFile(podman, JSON.stringify({ auths: { [reg.host]: { auth: good } } }));
    const docker = join(dir.path, 'docker');
    await mkdir(docker, { recursive: true });
    await writeFile(join(docker, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from('alice:stale-pw').toString('base64') } } }));
    const env = { HOME: dir.path, DOCKER_CONFIG: docker, XDG_RUNTIME_DIR: '', REGISTRY_AUTH_FILE: '' };
    const stale = await runStrata(['push', archive, `${reg.host}/strata/authfile:1`, '--retry-times', '0'], { env });
    expect(stale.exitCode).toBe(1);
    expect(stale.stderr).toContain(`(credentials from ${join(docker, 'config.json')})`);
    const explicit = await runStrata(['push', archive, `${reg.host}/strata/authfile:1`, '--authfile', podman], { env });
    expect(explicit.exitCode, explicit.stderr).toBe(0);
    const fromEnv = await runStrata(['push', archive, `${reg.host}/strata/authfile:2`], { env: { ...env, REGISTRY_AUTH_FILE: podman } });
    expect(fromEnv.exitCode, fromEnv.stderr).toBe(0);
  });

  it('never prints a secret from a malformed auth file', async () => {
    const broken = join(dir.path, 'broken.json');
    await writeFile(broken, `{"auths":{"${reg.host}":{"auth":"${good}"}},}`);
    const result = await runStrata(['push', archive, `${reg.host}/strata/broken:1`, '--authfile', broken]);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/broken\.json: not valid JSON \(at line 1, column \d+\)/);
    expect(result.stderr).not.toContain(good.slice(0, 8));
  });
});

describe.runIf(hasPeers('docker-registry'))('push and pull against a stalling registry, a huge image, and Ctrl-C', () => {
  let reg: RunningRegistry;
  let proxy: RunningFaultProxy;
  let dir: TempDir;
  let archive: string;
  beforeAll(async () => {
    dir = await makeTempDir('strata-cli-faults-');
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.url);
    archive = await makeDockerArchive(dir.path, [4_000_000, 4_000_000, 4_000_000]);
  });
  afterAll(async () => {
    await proxy.stop();
    await reg.stop();
    await dir.remove();
  });

  it('gives up on a registry that never answers, naming the request and the timeout', async () => {
    proxy.addFault({ method: 'GET', path: /\/manifests\//, fault: { kind: 'stall' }, times: 100 });
    const out = join(dir.path, 'stalled.tar');
    const result = await runStrata(['pull', `${proxy.host}/strata/none:1`, '-o', out, '--connect-timeout', '0.3', '--retry-times', '1'], { timeoutMs: 30_000 });
    proxy.clearFaults();
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/TIMEOUT: GET http:\/\/127\.0\.0\.1:\d+\/v2\/strata\/none\/manifests\/1: no answer within 0\.3 s \(connect timeout\)/);
    await expect(stat(out)).rejects.toThrow(/ENOENT/);
  });

  it('downloads a layer that arrived corrupt once more, and writes the same archive as a clean pull', async () => {
    const pushed = await runStrata(['push', archive, `${reg.host}/strata/flaky:1`]);
    expect(pushed.exitCode, pushed.stderr).toBe(0);
    const clean = join(dir.path, 'clean.tar');
    expect((await runStrata(['pull', `${reg.host}/strata/flaky:1`, '-o', clean])).exitCode).toBe(0);
    const manifest = JSON.parse((await new RegistryClient(reg.host).fetchManifest('strata/flaky', '1')).bytes.toString()) as { layers: { digest: string }[] };
    // A layer, streamed straight into the archive: the whole archive is written once more.
    proxy.addFault({ method: 'GET', path: new RegExp(`/blobs/${manifest.layers[1]!.digest}`), fault: { kind: 'corrupt' } });
    const out = join(dir.path, 'flaky.tar');
    const pulled = await runStrata(['pull', `${proxy.host}/strata/flaky:1`, '-o', out]);
    proxy.clearFaults();
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    expect(proxy.requests.filter((r) => r.fault === 'corrupt')).toHaveLength(1);
    expect(sha256(await readFile(out))).toBe(sha256(await readFile(clean)));
  });

  it('refuses an image larger than --max-size before downloading its layers', async () => {
    const pushed = await runStrata(['push', archive, `${reg.host}/strata/big:1`]);
    expect(pushed.exitCode, pushed.stderr).toBe(0);
    const out = join(dir.path, 'big.tar');
    const start = proxy.requests.length;
    const result = await runStrata(['pull', `${proxy.host}/strata/big:1`, '-o', out, '--max-size', '1M']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/SIZE_LIMIT: .*over the limit of 1048576 bytes/);
    expect(proxy.requests.slice(start).filter((r) => r.path.includes('/blobs/'))).toEqual([]);
    await expect(stat(out)).rejects.toThrow(/ENOENT/);
  });

  it('refuses an image the disk cannot hold, checking the free space first', async () => {
    // 32 TiB declared, allowed by --max-size: only the free-space check stands in the way.
    const client = new RegistryClient(reg.host);
    const layer = Buffer.from('tiny');
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(layer)}`] } }));
    await client.pushBlob('strata/huge', { bytes: layer, digest: `sha256:${sha256(layer)}`, size: layer.length });
    await client.pushBlob('strata/huge', { bytes: config, digest: `sha256:${sha256(config)}`, size: config.length });
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.dockerManifest,
      config: { mediaType: MediaType.dockerConfig, digest: `sha256:${sha256(config)}`, size: config.length },
      layers: [{ mediaType: MediaType.dockerLayer, digest: `sha256:${sha256(layer)}`, size: 2 ** 45 }],
    };
    await client.pushManifest('strata/huge', '1', Buffer.from(JSON.stringify(manifest)), MediaType.dockerManifest);
    const out = join(dir.path, 'huge.tar');
    const start = proxy.requests.length;
    const result = await runStrata(['pull', `${proxy.host}/strata/huge:1`, '-o', out, '--max-size', '64T']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/SIZE_LIMIT: .*huge\.tar: the image needs at least 32\.0 TiB in .*, which has .* free/);
    expect(proxy.requests.slice(start).filter((r) => r.path.includes(sha256(layer)))).toEqual([]);
    await expect(stat(out)).rejects.toThrow(/ENOENT/);
  });

  it('leaves no upload session open in the registry after Ctrl-C', async () => {
    proxy.addFault({ method: 'PUT', path: /\/blobs\/uploads\//, fault: { kind: 'stall' }, times: 100 });
    const child = spawn(process.execPath, [join(repoRoot(), 'packages/cli/dist/bin.js'), 'push', archive, `${proxy.host}/strata/interrupted:1`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c;
    });
    while (proxy.requests.filter((r) => r.fault === 'stall').length < 3) await new Promise((r) => setTimeout(r, 20));
    expect(await openUploadSessions(reg, 'strata/interrupted')).toHaveLength(3);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    proxy.clearFaults();
    expect(code, stderr).toBe(130);
    expect(await openUploadSessions(reg, 'strata/interrupted')).toEqual([]);
  });
});
