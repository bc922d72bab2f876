import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  buildHelloClosure,
  type HelloClosure,
  hasPeers,
  makeTempDir,
  podmanInspect,
  podmanLoad,
  podmanRemove,
  podmanRun,
  run,
  type RunningRegistry,
  runStrata,
  skopeoInspect,
  startFaultProxy,
  startRegistry,
  type TempDir,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** podman image names unique to these tests (other engineers share podman's storage). */
const unique = `strata-cli-registry-test-${randomBytes(4).toString('hex')}`;

const blobUploads = (log: string, repo: string) => log.split('\n').filter((l) => new RegExp(`"(POST|PATCH|PUT) /v2/${repo}/blobs/uploads`).test(l)).length;

describe.runIf(hasPeers('nix-build', 'docker-registry', 'skopeo', 'podman', 'runc'))('strata push and strata pull', () => {
  let hello: HelloClosure;
  let dir: TempDir;
  let reg: RunningRegistry;
  let archive: string;
  let spec: string;
  const loaded: string[] = [];
  beforeAll(async () => {
    hello = await buildHelloClosure({ message: 'pushed by strata' });
    dir = await makeTempDir('strata-cli-registry-');
    reg = await startRegistry();
    archive = join(dir.path, 'hello.tar');
    spec = join(dir.path, 'spec.json');
    await writeFile(spec, JSON.stringify({ name: 'strata-registry-test-hello', tag: 'v1', contents: [hello.hello], config: { Cmd: [`${hello.hello}/bin/hello`] } }));
    const built = await runStrata(['build-layered', '--spec', spec, '--compressor', 'none', '-o', archive]);
    expect(built.exitCode, built.stderr).toBe(0);
  });
  afterAll(async () => {
    for (const image of loaded) await podmanRemove(image);
    await reg.stop();
    await dir.remove();
  });

  it('pushes a strata-built archive that skopeo reads back, and a second push uploads nothing', async () => {
    const pushed = await runStrata(['push', archive, `${reg.host}/strata/hello:v1`]);
    expect(pushed.exitCode, pushed.stderr).toBe(0);
    const reference = pushed.stdout.trim();
    expect(reference).toMatch(new RegExp(`^${reg.host}/strata/hello@sha256:[a-f0-9]{64}$`));
    const info = await skopeoInspect(`docker://${reg.host}/strata/hello:v1`, ['--tls-verify=false']);
    expect(info.Digest).toBe(reference.split('@')[1]);
    await run('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${reference}`, `oci:${join(dir.path, 'oci')}:hello`]);
    expect((await stat(join(dir.path, 'oci/index.json'))).isFile()).toBe(true);

    const before = blobUploads(reg.log(), 'strata/hello');
    const again = await runStrata(['push', archive, `${reg.host}/strata/hello:v1`]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe(reference);
    expect(blobUploads(reg.log(), 'strata/hello')).toBe(before);
    expect(again.stderr).toMatch(/already in the registry/);
  });

  it('builds a spec straight into the registry, to the same digest as its archive', async () => {
    const fromArchive = await runStrata(['push', archive, `${reg.host}/strata/spec:archive`]);
    const fromSpec = await runStrata(['push', spec, `${reg.host}/strata/spec:direct`]);
    expect(fromSpec.exitCode, fromSpec.stderr).toBe(0);
    expect(fromSpec.stdout.split('@')[1]).toBe(fromArchive.stdout.split('@')[1]);
    expect(await skopeoInspect(`docker://${reg.host}/strata/spec:direct`, ['--tls-verify=false'])).toMatchObject({ Digest: fromSpec.stdout.trim().split('@')[1] });
  });

  it('shows what the customisation scripts print and contents conflicts when pushing a spec, as build-layered does', async () => {
    const noisy = join(dir.path, 'noisy.json');
    await writeFile(
      noisy,
      JSON.stringify({ name: 'strata-registry-test-noisy', contents: [hello.hello, hello.hello], extraCommands: 'echo made-by-extraCommands; echo to-stderr >&2' }),
    );
    const built = await runStrata(['build-layered', '--spec', noisy, '--compressor', 'none', '-o', join(dir.path, 'noisy.tar')]);
    const pushed = await runStrata(['push', noisy, `${reg.host}/strata/noisy:1`]);
    expect(pushed.exitCode, pushed.stderr).toBe(0);
    expect(pushed.stdout).toMatch(new RegExp(`^${reg.host}/strata/noisy@sha256:[a-f0-9]{64}\\n$`));
    for (const result of [built, pushed]) {
      // Both streams of the script reach stderr (in the order they arrived).
      expect(result.stderr).toMatch(/^strata: (made-by-extraCommands\nto-stderr|to-stderr\nmade-by-extraCommands)$/m);
      expect(result.stderr).toContain(`strata: contents conflict: /bin/hello is in both ${hello.hello} and ${hello.hello}`);
    }
  });

  it('rejects a bad reference as a usage error', async () => {
    const result = await runStrata(['push', archive, 'Not A Reference']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/reference "Not A Reference"/);
  });

  it('pulls the pushed digest into a docker-archive that podman runs and --sha256 verifies', async () => {
    const pushed = await runStrata(['push', archive, `${reg.host}/strata/pull:v1`]);
    const reference = pushed.stdout.trim();
    const out = join(dir.path, 'pulled.tar');
    const pulled = await runStrata(['pull', reference, '-o', out, '--final-name', `${unique}-pulled`, '--final-tag', 'v1', '--os', 'linux', '--arch', 'amd64', '--tls-verify', 'false']);
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    const name = await podmanLoad(out);
    loaded.push(name);
    expect(name).toContain(`${unique}-pulled:v1`);
    const result = await podmanRun(name);
    expect(result.stdout).toBe(`pushed by strata\nfrom ${hello.hello}\n`);

    const sha = createHash('sha256').update(await readFile(out)).digest('hex');
    const again = join(dir.path, 'again.tar');
    expect((await runStrata(['pull', reference, '-o', again, '--final-name', `${unique}-pulled`, '--final-tag', 'v1', '--sha256', sha])).exitCode).toBe(0);
    const bad = join(dir.path, 'bad.tar');
    const wrong = await runStrata(['pull', reference, '-o', bad, '--final-name', 'x', '--sha256', '0'.repeat(64)]);
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toMatch(/sha256/);
    await expect(stat(bad)).rejects.toThrow(/ENOENT/);
  });

  it('pulls an image keeping the registry config bytes: same image ID, empty-layer history intact', async () => {
    const staging = join(dir.path, 'history');
    await mkdir(join(staging, 'root/etc'), { recursive: true });
    await writeFile(join(staging, 'root/etc/greeting'), 'hi\n');
    const layer = join(staging, 'layer.tar');
    await run('tar', ['-C', join(staging, 'root'), '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1', '-cf', layer, '.']);
    const diffId = `sha256:${createHash('sha256').update(await readFile(layer)).digest('hex')}`;
    const history = [
      { created: '2024-01-01T00:00:00Z', created_by: 'ENV GREETING=hi', empty_layer: true },
      { created: '2024-01-01T00:00:01Z', created_by: 'COPY greeting /etc/' },
    ];
    // Indented, history before rootfs: bytes no re-serialisation would reproduce.
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: ['GREETING=hi'] }, history, rootfs: { type: 'layers', diff_ids: [diffId] } }, null, 2));
    const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
    await writeFile(join(staging, 'config.json'), config);
    await writeFile(join(staging, 'manifest.json'), JSON.stringify([{ Config: 'config.json', RepoTags: ['h:1'], Layers: ['layer.tar'] }]));
    const source = join(dir.path, 'history.tar');
    await run('tar', ['-C', staging, '-cf', source, 'config.json', 'manifest.json', 'layer.tar']);
    const pushed = await runStrata(['push', source, `${reg.host}/strata/history:v1`]);
    expect(pushed.exitCode, pushed.stderr).toBe(0);
    const raw = (await skopeoInspect(`docker://${reg.host}/strata/history:v1`, ['--tls-verify=false', '--raw'])) as { config: { digest: string } };
    expect(raw.config.digest).toBe(configDigest);

    const out = join(dir.path, 'history-pulled.tar');
    const pulled = await runStrata(['pull', pushed.stdout.trim(), '-o', out, '--final-name', `${unique}-history`, '--final-tag', 'v1']);
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    const member = await run('tar', ['-xOf', out, `${configDigest.slice(7)}.json`]);
    expect(member.stdout).toBe(config.toString('utf8'));
    const archived = (await skopeoInspect(`docker-archive:${out}`, ['--raw'])) as { config: { digest: string } };
    expect(archived.config.digest).toBe(configDigest);
    const name = await podmanLoad(out);
    loaded.push(name);
    const inspected = await podmanInspect(name);
    expect(inspected.Id).toBe(configDigest.slice(7));
    expect(inspected.History).toEqual([
      { created: '2024-01-01T00:00:00Z', created_by: 'ENV GREETING=hi', empty_layer: true },
      { created: '2024-01-01T00:00:01Z', created_by: 'COPY greeting /etc/' },
    ]);
  });

  it('pulls an image skopeo pushed with gzip layers, usable as fromImage for a new build', async () => {
    // A registry of its own: skopeo reuses blobs it has seen in a registry instead of compressing them.
    const other = await startRegistry();
    const base = join(dir.path, 'base.tar');
    try {
      await run('skopeo', ['--insecure-policy', 'copy', '--dest-tls-verify=false', `docker-archive:${archive}`, `docker://${other.host}/strata/gz:1`]);
      const raw = (await skopeoInspect(`docker://${other.host}/strata/gz:1`, ['--tls-verify=false', '--raw'])) as { layers: { digest: string }[] };
      const blob = Buffer.from(await (await fetch(`${other.url}/v2/strata/gz/blobs/${raw.layers[0]!.digest}`)).arrayBuffer());
      expect([...blob.subarray(0, 2)]).toEqual([0x1f, 0x8b]);
      const pulled = await runStrata(['pull', `${other.host}/strata/gz:1`, '-o', base, '--final-name', `${unique}-base`]);
      expect(pulled.exitCode, pulled.stderr).toBe(0);
    } finally {
      await other.stop();
    }
    const derived = join(dir.path, 'derived.tar');
    const built = await runStrata(['build-layered', '--name', `${unique}-derived`, '--tag', 'v1', '--from-image', base, '--config', JSON.stringify({ Cmd: [`${hello.hello}/bin/hello`] }), '--compressor', 'none', '-o', derived]);
    expect(built.exitCode, built.stderr).toBe(0);
    const name = await podmanLoad(derived);
    loaded.push(name);
    expect((await podmanRun(name)).stdout).toBe(`pushed by strata\nfrom ${hello.hello}\n`);
  });

  it('pushes through resets and 503s, and never writes a pull whose bytes were corrupted', async () => {
    const proxy = await startFaultProxy(reg.url, [
      { method: 'PUT', path: /\/blobs\/uploads\//, fault: { kind: 'reset' } },
      { method: 'POST', path: /\/blobs\/uploads\/$/, fault: { kind: 'status', status: 503, retryAfter: '0' } },
    ]);
    try {
      const pushed = await runStrata(['push', archive, `${proxy.host}/strata/faults:v1`]);
      expect(pushed.exitCode, pushed.stderr).toBe(0);
      expect(proxy.requests.filter((r) => r.fault).length).toBe(2);
      proxy.addFault({ method: 'GET', path: /\/blobs\//, fault: { kind: 'corrupt' }, times: 100 });
      const out = join(dir.path, 'corrupt.tar');
      const pulled = await runStrata(['pull', pushed.stdout.trim().replace(reg.host, proxy.host), '-o', out, '--final-name', 'x']);
      expect(pulled.exitCode).toBe(1);
      expect(pulled.stderr).toMatch(/DIGEST_MISMATCH: blob 127\.0\.0\.1:\d+\/strata\/faults@sha256:[a-f0-9]{64}: expected sha256:/);
      await expect(stat(out)).rejects.toThrow(/ENOENT/);
    } finally {
      await proxy.stop();
    }
  });
});
