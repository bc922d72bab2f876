import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  buildHelloClosure,
  type HelloClosure,
  hasPeers,
  makeTempDir,
  PODMAN_GLOBAL,
  podmanRemove,
  run,
  type RunningRegistry,
  runStrata,
  skopeoInspect,
  startRegistry,
  type TempDir,
} from '@strata/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** A repository name no other test run uses (podman's storage is shared between engineers). */
const repo = `strata/multi-${randomBytes(4).toString('hex')}`;

describe.runIf(hasPeers('nix-build', 'docker-registry', 'skopeo', 'podman'))('strata push-index, pull --platform, and podman pull --arch', () => {
  let hello: HelloClosure;
  let dir: TempDir;
  let reg: RunningRegistry;
  let amdArchive: string;
  let armSpec: string;
  let index: string;
  const pulled: string[] = [];
  beforeAll(async () => {
    hello = await buildHelloClosure({ message: 'one of two platforms' });
    dir = await makeTempDir('strata-cli-multi-');
    reg = await startRegistry();
    const spec = (architecture: string) => ({ name: 'strata-multi', tag: architecture, architecture, contents: [hello.hello], config: { Cmd: [`${hello.hello}/bin/hello`] } });
    await writeFile(join(dir.path, 'amd64.json'), JSON.stringify(spec('amd64')));
    armSpec = join(dir.path, 'arm64.json');
    await writeFile(armSpec, JSON.stringify(spec('arm64')));
    amdArchive = join(dir.path, 'amd64.tar');
    const built = await runStrata(['build-layered', '--spec', join(dir.path, 'amd64.json'), '--compressor', 'none', '-o', amdArchive]);
    expect(built.exitCode, built.stderr).toBe(0);
    const pushed = await runStrata(['push-index', `${reg.host}/${repo}:1`, amdArchive, armSpec]);
    expect(pushed.exitCode, pushed.stderr).toBe(0);
    index = pushed.stdout.trim();
  });
  afterAll(async () => {
    for (const image of pulled) await podmanRemove(image);
    await reg.stop();
    await dir.remove();
  });

  it('pushes an OCI index that skopeo inspect --raw shows with both platforms', async () => {
    expect(index).toMatch(new RegExp(`^${reg.host}/${repo}@sha256:[a-f0-9]{64}$`));
    const raw = (await skopeoInspect(`docker://${reg.host}/${repo}:1`, ['--tls-verify=false', '--raw'])) as { mediaType: string; manifests: { digest: string; platform: unknown }[] };
    expect(raw.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(raw.manifests.map((m) => m.platform)).toEqual([
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ]);
    // Each child is the image its source describes (same image ID), an OCI manifest of gzip layers.
    const archived = JSON.parse((await runStrata(['inspect', '--json', amdArchive])).stdout) as { imageId: string };
    const amd = (await skopeoInspect(`docker://${reg.host}/${repo}@${raw.manifests[0]!.digest}`, ['--tls-verify=false', '--raw'])) as { mediaType: string; config: { digest: string }; layers: { mediaType: string }[] };
    expect(amd.config.digest).toBe(archived.imageId);
    expect(amd.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(amd.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+gzip')).toBe(true);
    const arm = (await skopeoInspect(`docker://${reg.host}/${repo}@${raw.manifests[1]!.digest}`, ['--tls-verify=false'])) as { Architecture: string };
    expect(arm.Architecture).toBe('arm64');
  });

  it('strata pull --platform linux/arm64 gets the arm64 image, and --os/--arch still work', async () => {
    const raw = (await skopeoInspect(`docker://${reg.host}/${repo}:1`, ['--tls-verify=false', '--raw'])) as { manifests: { digest: string }[] };
    const armConfig = ((await skopeoInspect(`docker://${reg.host}/${repo}@${raw.manifests[1]!.digest}`, ['--tls-verify=false', '--raw'])) as { config: { digest: string } }).config.digest;
    const out = join(dir.path, 'arm-pulled.tar');
    const result = await runStrata(['pull', `${reg.host}/${repo}:1`, '--platform', 'linux/arm64', '-o', out]);
    expect(result.exitCode, result.stderr).toBe(0);
    const archive = JSON.parse((await runStrata(['inspect', '--json', out])).stdout) as { imageId: string; platform: unknown };
    expect(archive.platform).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(archive.imageId).toBe(armConfig);
    const byArch = join(dir.path, 'arm-by-arch.tar');
    expect((await runStrata(['pull', `${reg.host}/${repo}:1`, '--arch', 'arm64', '-o', byArch])).exitCode).toBe(0);
    expect(JSON.parse((await runStrata(['inspect', '--json', byArch])).stdout).imageId).toBe(armConfig);
  });

  it('refuses --platform together with --arch, and a malformed --platform, as usage errors', async () => {
    const both = await runStrata(['pull', `${reg.host}/${repo}:1`, '--platform', 'linux/arm64', '--arch', 'amd64', '-o', join(dir.path, 'x.tar')]);
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toMatch(/--platform or --arch, not both/);
    const bad = await runStrata(['pull', `${reg.host}/${repo}:1`, '--platform', 'linux', '-o', join(dir.path, 'y.tar')]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/os\/arch\[\/variant\]/);
    const missing = await runStrata(['pull', `${reg.host}/${repo}:1`, '--platform', 'linux/s390x', '-o', join(dir.path, 'z.tar')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/available: linux\/amd64, linux\/arm64/);
  });

  it('podman pull --arch arm64 gets the arm64 image from the index', async () => {
    const reference = `${reg.host}/${repo}:1`;
    pulled.push(reference);
    await run('podman', [...PODMAN_GLOBAL, 'pull', '-q', '--tls-verify=false', '--arch', 'arm64', reference]);
    const { stdout } = await run('podman', [...PODMAN_GLOBAL, 'image', 'inspect', reference, '--format', '{{.Architecture}}']);
    expect(stdout.trim()).toBe('arm64');
  });

  it('refuses two images for one platform before pushing anything', async () => {
    const result = await runStrata(['push-index', `${reg.host}/${repo}-dup:1`, amdArchive, amdArchive]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/images 1 and 2 are both for linux\/amd64/);
    expect(reg.log()).not.toContain(`/v2/${repo}-dup/`);
  });
});
